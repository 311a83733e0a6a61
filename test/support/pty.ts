// Drives an interactive program through a real pseudo-terminal (python3's pty module: no native npm addon to
// build): waits for a shell prompt, types `input`, reads until `expect` appears, then sends `quit` and returns all
// that the program wrote.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

const DRIVER = `
import os, pty, select, sys, time
argv = sys.argv[1:]
send, expect, quit = (os.environ[k].encode() for k in ('PTY_INPUT', 'PTY_EXPECT', 'PTY_QUIT'))
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out, sent, found = b'', False, False
give_up = time.time() + 90  # only a guard against a hung test; the test asserts on what was read
while time.time() < give_up and not found:
    ready, _, _ = select.select([fd], [], [], 0.2)
    if ready:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    if not sent and (b'$ ' in out or b'# ' in out):
        os.write(fd, send)
        sent = True
    found = sent and expect in out.split(send.strip(), 1)[-1]
os.write(fd, quit)
end = time.time() + 10
while time.time() < end:
    ready, _, _ = select.select([fd], [], [], 0.2)
    if ready:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    if os.waitpid(pid, os.WNOHANG)[0]:
        break
else:
    os.kill(pid, 9)
sys.stdout.buffer.write(out)
`;

export async function typeIntoPty(
  argv: string[],
  options: { input: string; expect: string; quit: string; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<string> {
  const { stdout } = await run('python3', ['-c', DRIVER, ...argv], {
    env: {
      ...process.env,
      ...options.env,
      PTY_INPUT: options.input,
      PTY_EXPECT: options.expect,
      PTY_QUIT: options.quit,
    },
    cwd: options.cwd,
    maxBuffer: 16 * 1024 * 1024,
    encoding: 'utf8',
  });
  return stdout;
}
