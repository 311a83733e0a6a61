// The ProtoMsg codec: the integer widths the Go peers insist on, a relay that re-types nothing, and refusal of
// frames that are not ProtoMsgs (truncated, hostile nesting, wrong types).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decode, encode } from '@msgpack/msgpack';
import { decodeProtoMsg, encodeProtoMsg, encodeValue, Int64, MalformedFrame, rewriteHeader } from './protomsg.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('ProtoMsg codec', () => {
  it('writes proto as uint16 and an Int64 offset as msgpack int64 (0xd3), as mender-connect reads them', () => {
    const frame = encodeProtoMsg({ proto: 2, typ: 'ack', sid: 's', props: { offset: new Int64(81920) } });
    // a5 "proto" cd 00 02
    assert.ok(hex(frame).includes(`a5${Buffer.from('proto').toString('hex')}cd0002`));
    // a6 "offset" d3 00 00 00 00 00 01 40 00
    assert.ok(hex(frame).includes(`a6${Buffer.from('offset').toString('hex')}d30000000000014000`));
    const msg = decodeProtoMsg(frame);
    assert.deepEqual(
      { ...msg, props: { offset: Number(msg.props?.offset) } },
      {
        proto: 2,
        typ: 'ack',
        sid: 's',
        props: { offset: 81920 },
        body: undefined,
      },
    );
  });

  it('rewrites sid and adds user_id without touching the bytes of any other value', () => {
    // As mender-cli would send it: an int64 offset, a compact int and a uint8, all of which must survive as sent.
    const original = Buffer.concat([
      Uint8Array.of(0x82),
      encode('hdr'),
      Uint8Array.of(0x84),
      encode('proto'),
      Uint8Array.of(0xcd, 0x00, 0x02),
      encode('typ'),
      encode('file_chunk'),
      encode('sid'),
      encode('client-chosen'),
      encode('props'),
      Uint8Array.of(0x83),
      encode('offset'),
      Uint8Array.of(0xd3, 0, 0, 0, 0, 0, 0, 0x10, 0),
      encode('n'),
      Uint8Array.of(0x05),
      encode('w'),
      Uint8Array.of(0xcc, 0x50),
      encode('body'),
      Uint8Array.of(0xc4, 0x03, 1, 2, 3),
    ]);
    const rewritten = rewriteHeader(original, 'server-sid', 'user-1');
    const text = hex(rewritten);
    assert.ok(text.includes('d30000000000001000'), 'int64 offset kept');
    assert.ok(text.includes(`a16e05`), 'fixint kept');
    assert.ok(text.includes(`a177cc50`), 'uint8 kept');
    assert.ok(text.includes('c403010203'), 'body kept');
    const msg = decodeProtoMsg(rewritten);
    assert.equal(msg.sid, 'server-sid');
    assert.equal(msg.props?.user_id, 'user-1');
    assert.equal(msg.props?.offset, 4096);
    assert.equal(msg.typ, 'file_chunk');
  });

  it('adds props to a header without any and drops a map body (the GUI stop), which Go cannot read as bytes', () => {
    const frame = encodeValue({ hdr: { proto: 1, typ: 'stop' }, body: {} });
    const rewritten = rewriteHeader(frame, 'sid-1', 'u');
    const value = decode(rewritten) as { hdr: Record<string, unknown>; body?: unknown };
    assert.deepEqual(value.hdr, { proto: 1, typ: 'stop', sid: 'sid-1', props: { user_id: 'u' } });
    assert.equal('body' in value, false);
  });

  it('takes a str body (the GUI sends shell input as text) as its UTF-8 bytes', () => {
    const msg = decodeProtoMsg(encodeValue({ hdr: { proto: 1, typ: 'shell' }, body: 'ls\r' }));
    assert.equal(Buffer.from(msg.body!).toString(), 'ls\r');
  });

  it('refuses what is not a ProtoMsg', () => {
    const bad: [string, Uint8Array][] = [
      ['empty', new Uint8Array()],
      ['not msgpack', Uint8Array.of(0xc1)],
      ['a string', encode('hello')],
      ['no hdr', encode({ body: new Uint8Array(1) })],
      ['proto too big', encode({ hdr: { proto: 70000 } })],
      ['proto a string', encode({ hdr: { proto: '1' } })],
      ['props a list', encode({ hdr: { proto: 1, props: [1] } })],
      ['truncated', encodeProtoMsg({ proto: 1, typ: 'shell', sid: 'x', body: Buffer.from('abc') }).subarray(0, 12)],
    ];
    for (const [name, frame] of bad) {
      assert.throws(() => decodeProtoMsg(frame), MalformedFrame, name);
      assert.throws(() => rewriteHeader(frame, 's', 'u'), MalformedFrame, name);
    }
  });

  it('refuses hostile nesting and trailing bytes in the relay without exhausting the stack', () => {
    const deep = Buffer.concat([
      Uint8Array.of(0x81),
      encode('hdr'),
      Uint8Array.of(0x82),
      encode('proto'),
      Uint8Array.of(0x01),
      encode('x'),
      Buffer.alloc(10_000, 0x91),
      Uint8Array.of(0xc0),
    ]);
    assert.throws(() => rewriteHeader(deep, 's', 'u'), MalformedFrame);
    const trailing = Buffer.concat([encodeProtoMsg({ proto: 1 }), Uint8Array.of(0)]);
    assert.throws(() => rewriteHeader(trailing, 's', 'u'), MalformedFrame);
  });
});
