// The behaviour every blob store shares (folder and S3): a blob appears only at commit, whole and by range; a taken
// key is refused; an aborted blob leaves nothing behind; deletes; keys that could escape are refused. Each store's
// test file runs it with its own `leftovers` (what an abort or commit must not leave: temporaries, open uploads).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { it } from 'node:test';
import { type BlobStore, type ByteRange, blobSender } from '../../src/blobs/store.js';

export interface BlobStoreUnderTest {
  blobs: BlobStore;
  /** Temporaries or unfinished uploads the store still holds. */
  leftovers(): Promise<string[]>;
}

export async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Deterministic, non-repeating-looking bytes: a misplaced range shows. */
export function patterned(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + (i >> 12)) & 0xff;
  return bytes;
}

async function put(blobs: BlobStore, key: string, bytes: Buffer): Promise<void> {
  const pending = await blobs.begin(key);
  await pipeline(Readable.from([bytes]), pending.stream);
  assert.equal(pending.size, bytes.length);
  await pending.commit();
}

/** Registers the shared tests; `store()` is read when each test runs (after the caller's `before`). */
export function blobStoreContract(store: () => BlobStoreUnderTest, prefix: string): void {
  it('makes a blob visible only after commit, then serves it whole and by range', async () => {
    const { blobs, leftovers } = store();
    const key = `${prefix}/a`;
    const pending = await blobs.begin(key);
    await pipeline(Readable.from([Buffer.from('hello '), Buffer.from('world')]), pending.stream);
    assert.equal(pending.size, 11);
    assert.equal(await blobs.size(key), undefined);
    await pending.commit();
    assert.equal(await blobs.size(key), 11);
    assert.equal((await bytesOf(await blobs.open(key))).toString(), 'hello world');
    assert.equal((await bytesOf(await blobs.open(key, { start: 6, end: 10 }))).toString(), 'world');
    assert.deepEqual(await leftovers(), []);
  });

  it('serves ranges across 1 MiB boundaries of a multi-MiB blob', async () => {
    const { blobs } = store();
    const bytes = patterned(3 * 1024 * 1024 + 5);
    await put(blobs, `${prefix}/big`, bytes);
    assert.ok((await bytesOf(await blobs.open(`${prefix}/big`))).equals(bytes));
    const start = (1 << 20) - 3;
    const end = 2 * (1 << 20) + 10;
    assert.ok(
      (await bytesOf(await blobs.open(`${prefix}/big`, { start, end }))).equals(bytes.subarray(start, end + 1)),
    );
  });

  it('writes a blob into an answer, whole and by range, each chunk intact until the answer took it', async () => {
    const { blobs } = store();
    // Random bytes: a patterned blob repeats every MiB, so a buffer refilled too early would go unseen.
    const bytes = randomBytes(3 * 1024 * 1024 + 5);
    await put(blobs, `${prefix}/sent`, bytes);
    const sent = async (range?: ByteRange) => {
      const taken: Buffer[] = [];
      // Takes each chunk a while later, as a slow client's socket does: longer than a read of the next chunk.
      const out = new Writable({
        write(chunk: Buffer, _encoding, done) {
          setTimeout(() => {
            taken.push(Buffer.from(chunk));
            done();
          }, 20);
        },
      });
      const sender = await blobSender(blobs, `${prefix}/sent`, range);
      await sender.writeTo(out);
      await sender.close();
      assert.equal(out.writableEnded, false, 'the answer stays open for its caller to end');
      return Buffer.concat(taken);
    };
    assert.ok((await sent()).equals(bytes));
    const start = (1 << 20) - 3;
    const end = 2 * (1 << 20) + 10;
    assert.ok((await sent({ start, end })).equals(bytes.subarray(start, end + 1)));
    assert.ok((await sent({ start: 5, end: 5 })).equals(bytes.subarray(5, 6)));
  });

  it('stops writing into an answer that closed (a client that left)', async () => {
    const { blobs } = store();
    await put(blobs, `${prefix}/left`, randomBytes(3 * 1024 * 1024));
    const out = new Writable({
      write() {
        setImmediate(() => out.destroy());
      },
    });
    const sender = await blobSender(blobs, `${prefix}/left`);
    await assert.rejects(sender.writeTo(out));
    await sender.close();
  });

  it('refuses to replace a committed blob and leaves the first one intact', async () => {
    const { blobs, leftovers } = store();
    await put(blobs, `${prefix}/dup`, Buffer.from('one'));
    const second = await blobs.begin(`${prefix}/dup`);
    await pipeline(Readable.from([Buffer.from('two')]), second.stream);
    await assert.rejects(second.commit(), /EEXIST/);
    await second.abort();
    assert.equal((await bytesOf(await blobs.open(`${prefix}/dup`))).toString(), 'one');
    assert.deepEqual(await leftovers(), []);
  });

  it('aborts a blob in the middle of its bytes without leaving anything', async () => {
    const { blobs, leftovers } = store();
    const pending = await blobs.begin(`${prefix}/aborted`);
    pending.stream.write(patterned(64 * 1024));
    await pending.abort();
    await pending.abort();
    assert.equal(await blobs.size(`${prefix}/aborted`), undefined);
    assert.deepEqual(await leftovers(), []);
  });

  it('deletes a blob and answers undefined for it afterwards; a second delete is no error', async () => {
    const { blobs } = store();
    await put(blobs, `${prefix}/gone`, Buffer.from('bye'));
    await blobs.delete(`${prefix}/gone`);
    assert.equal(await blobs.size(`${prefix}/gone`), undefined);
    await blobs.delete(`${prefix}/gone`);
  });

  it('lists committed blobs under a prefix with their sizes, not those in flight', async () => {
    const { blobs } = store();
    await put(blobs, `${prefix}/listed/one`, Buffer.from('1'));
    await put(blobs, `${prefix}/listed/deeper/two`, Buffer.from('22'));
    await put(blobs, `${prefix}/listedness`, Buffer.from('333'));
    const pending = await blobs.begin(`${prefix}/listed/in-flight`);
    pending.stream.write(Buffer.from('4444'));
    const listed: [string, number][] = [];
    for await (const blob of blobs.list(`${prefix}/listed/`)) {
      assert.ok(blob.modified.getTime() > Date.now() - 3600_000, 'modified is the commit time');
      listed.push([blob.key, blob.size]);
    }
    await pending.abort();
    assert.deepEqual(listed.sort(), [
      [`${prefix}/listed/deeper/two`, 2],
      [`${prefix}/listed/one`, 1],
    ]);
    const all: string[] = [];
    for await (const blob of blobs.list()) all.push(blob.key);
    assert.ok(all.includes(`${prefix}/listedness`) && all.includes(`${prefix}/listed/one`));
  });

  it('rejects keys that could escape the store', async () => {
    const { blobs } = store();
    for (const key of ['../x', '/etc/passwd', 'a/../../b', '', 'a//b', '.hidden']) {
      await assert.rejects(blobs.size(key), /invalid blob key/, key);
      await assert.rejects(blobs.begin(key), /invalid blob key/, key);
    }
  });

  it('is ready (probe) when it can take blobs', async () => {
    await store().blobs.probe?.();
  });
}
