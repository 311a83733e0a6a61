// A terminal session on a Mender device running mender-connect: xterm.js over the deviceconnect websocket. A browser
// cannot put a bearer token on a websocket, so the session's JWT rides in a short-lived `JWT` cookie scoped to the
// deviceconnect path, as Mender's GUI does; frames are Mender's ProtoMsg in msgpack (research/deviceconnect.md).
import { decode, encode } from '@msgpack/msgpack';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { useEffect, useRef, useState } from 'react';
import { session } from '../session';
import { CONNECT } from './DeviceTerminal';

const PROTO_SHELL = 1;
const PROTO_CONTROL = 0xffff;

interface ProtoMsg {
  hdr: { proto: number; typ?: string; sid?: string; props?: Record<string, unknown> };
  body?: Uint8Array | string;
}

export default function TerminalSession({ id, onClose }: { id: string; onClose: () => void }) {
  const host = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState('Connecting…');
  const [ended, setEnded] = useState(false);
  const leave = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    const term = new Terminal({ cols: 100, rows: 24, convertEol: false, cursorBlink: true });
    term.open(host.current!);
    // Read only by the upgrade request below; gone within seconds.
    // biome-ignore lint/suspicious/noDocumentCookie: the Cookie Store API is not in every browser the UI supports
    document.cookie = `JWT=${session.token()}; path=${CONNECT}; max-age=10; samesite=strict${
      location.protocol === 'https:' ? '; secure' : ''
    }`;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}${CONNECT}/devices/${id}/connect`);
    socket.binaryType = 'arraybuffer';
    let sid: string | undefined;
    const send = (msg: ProtoMsg) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(encode(msg));
    };
    socket.onopen = () => {
      setStatus('Starting a shell…');
      send({
        hdr: { proto: PROTO_SHELL, typ: 'new', props: { terminal_width: term.cols, terminal_height: term.rows } },
      });
    };
    socket.onmessage = (event) => {
      const msg = decode(new Uint8Array(event.data as ArrayBuffer)) as ProtoMsg;
      const { proto, typ } = msg.hdr;
      if (msg.hdr.sid) sid = msg.hdr.sid;
      if (proto === PROTO_SHELL && typ === 'shell' && msg.body) term.write(msg.body);
      else if (proto === PROTO_SHELL && typ === 'new') {
        const ok = msg.hdr.props?.status === 1;
        setStatus(ok ? 'Connected.' : `Refused: ${bodyText(msg.body)}`);
        if (ok) term.focus();
      } else if (proto === PROTO_SHELL && typ === 'stop') {
        setStatus(`The shell ended${msg.body ? `: ${bodyText(msg.body)}` : ''}.`);
        setEnded(true);
      } else if (typ === 'ping') {
        // mender-connect pings each shell and ends it without an answer.
        send({ hdr: { proto, typ: 'pong', sid } });
      } else if (proto === PROTO_CONTROL && typ === 'error') setStatus(`Error: ${errorText(msg.body)}`);
    };
    socket.onclose = (event) => {
      setStatus((s) =>
        s.startsWith('The shell ended') ? s : `Disconnected${event.reason ? `: ${event.reason}` : ''}.`,
      );
      setEnded(true);
    };
    // The terminal takes every key, Tab included; Ctrl+] (mender-cli's quit key) hands the keyboard back to the page.
    term.attachCustomKeyEventHandler((event) => {
      if (event.type !== 'keydown' || !event.ctrlKey || event.key !== ']') return true;
      leave.current?.focus();
      return false;
    });
    const input = term.onData((data) => send({ hdr: { proto: PROTO_SHELL, typ: 'shell', sid }, body: data }));
    return () => {
      input.dispose();
      send({ hdr: { proto: PROTO_SHELL, typ: 'stop', sid } });
      socket.close();
      term.dispose();
    };
  }, [id]);

  return (
    <div className="terminal">
      <p role="status">{status}</p>
      <div ref={host} role="application" aria-label="Terminal" data-testid="terminal" />
      <p className="muted">Ctrl+] leaves the terminal for the rest of the page.</p>
      <button ref={leave} type="button" className="secondary" onClick={onClose}>
        {ended ? 'Close terminal' : 'Disconnect'}
      </button>
    </div>
  );
}

const bodyText = (body: ProtoMsg['body']) =>
  body === undefined ? '' : typeof body === 'string' ? body : new TextDecoder().decode(body);

function errorText(body: ProtoMsg['body']): string {
  try {
    const value = typeof body === 'string' || !body ? undefined : (decode(body) as { err?: string });
    return value?.err ?? bodyText(body);
  } catch {
    return bodyText(body);
  }
}
