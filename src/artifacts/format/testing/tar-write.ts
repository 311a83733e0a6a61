// Writing side of the tar format for the artifact writer: ustar headers for regular files (base-256 sizes beyond
// 8 GiB, as Go and GNU tar write them), padding and the end-of-archive marker.
const BLOCK = 512;

function octal(block: Buffer, value: number, start: number, length: number): void {
  block.write(`${value.toString(8).padStart(length - 1, '0')}\0`, start, length, 'latin1');
}

export function fileHeader(name: string, size: number, mtime: Date, mode = 0o644): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  if (nameBytes.length > 100) throw new Error(`tar entry name ${name} is longer than 100 bytes`);
  const block = Buffer.alloc(BLOCK);
  nameBytes.copy(block, 0);
  octal(block, mode, 100, 8);
  octal(block, 0, 108, 8);
  octal(block, 0, 116, 8);
  if (size < 8 ** 11) octal(block, size, 124, 12);
  else {
    let rest = size;
    for (let i = 135; i > 124; i--) {
      block[i] = rest % 256;
      rest = Math.floor(rest / 256);
    }
    block[124] = 0x80;
  }
  octal(block, Math.floor(mtime.getTime() / 1000), 136, 12);
  block.write('        ', 148, 8, 'latin1');
  block.write('0', 156, 1, 'latin1');
  block.write('ustar\0', 257, 6, 'latin1');
  block.write('00', 263, 2, 'latin1');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return block;
}

export const padding = (size: number) => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);

export const endOfArchive = () => Buffer.alloc(2 * BLOCK);

/** A whole tar of small in-memory files. */
export function smallTar(files: { name: string; body: Buffer }[], mtime: Date): Buffer {
  const parts: Buffer[] = [];
  for (const file of files)
    parts.push(fileHeader(file.name, file.body.length, mtime), file.body, padding(file.body.length));
  parts.push(endOfArchive());
  return Buffer.concat(parts);
}
