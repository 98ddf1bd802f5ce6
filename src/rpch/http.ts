/**
 * HTTP/1.1 for the RPC over HTTP methods. Node's HTTP parser (llhttp) accepts only the methods it
 * knows, and RPC_IN_DATA / RPC_OUT_DATA (MS-RPCH 2.1.2.1) are not among them: a TLS connection
 * whose first request line starts with `RPC_` is read here, every other one goes to Node's http
 * server. What MS-RPCH needs of HTTP is small: a request line, headers, a Content-Length body
 * (never chunked: MS-RPCH 2.1.2.1.1/2), and a response written as a raw stream. Header block at
 * most MAX_HEADER_BYTES, read within the listener's header timeout; several requests on one
 * connection are served in turn (the NTLM/Basic probe with Content-Length 0, then the channel).
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

const MAX_HEADER_BYTES = 16 * 1024;
const STATUS_TEXT: Record<number, string> = {
  100: 'Continue', 200: 'Success', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 501: 'Not Implemented', 503: 'Service Unavailable',
};

/** Does this first chunk of a connection start an RPC over HTTP request? */
export function isRpchStart(b: Buffer): boolean {
  return b.length >= 4 && b[0] === 0x52 && b[1] === 0x50 && b[2] === 0x43 && b[3] === 0x5f; // "RPC_"
}

/** One request's body (Content-Length bytes of the socket) with the subset of IncomingMessage the proxy uses. */
export class RpcRequest extends EventEmitter {
  remaining: number;
  ended = false;
  /** Body bytes are emitted only after resume() (until pause()); meanwhile the socket is paused. */
  flowing = false;
  /** Set by serveRpcHttp: hands buffered body bytes on. */
  pump: () => void = () => {};

  constructor(
    readonly method: string,
    readonly url: string,
    readonly headers: Record<string, string>,
    readonly socket: Socket,
    readonly contentLength: number,
  ) {
    super();
    this.remaining = contentLength;
  }

  pause(): this {
    this.flowing = false;
    this.socket.pause();
    return this;
  }

  resume(): this {
    this.flowing = true;
    this.socket.resume();
    this.pump();
    return this;
  }
}

/** The response, written straight to the socket (the OUT channel is a stream, not a message). */
export class RpcResponse extends EventEmitter {
  headersSent = false;
  private closeAfter = false;
  finished = false;
  private readonly extra: Record<string, string> = {};

  constructor(readonly socket: Socket) {
    super();
    socket.on('drain', () => this.emit('drain'));
    socket.once('close', () => this.emit('close'));
  }

  get writableNeedDrain(): boolean {
    return this.socket.writableNeedDrain;
  }

  setHeader(name: string, value: string): void {
    this.extra[name] = value;
  }

  writeContinue(): void {
    this.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
  }

  writeHead(status: number, reason?: string | Record<string, string>, headers: Record<string, string> = {}): this {
    if (this.headersSent) return this;
    const h = typeof reason === 'object' ? reason : headers;
    const text = typeof reason === 'string' ? reason : STATUS_TEXT[status] ?? 'Status';
    const all = { ...this.extra, ...h };
    if (Object.keys(all).some((k) => k.toLowerCase() === 'connection' && all[k]!.toLowerCase() === 'close')) this.closeAfter = true;
    let s = `HTTP/1.1 ${status} ${text}\r\n`;
    for (const [k, v] of Object.entries(all)) s += `${k}: ${v}\r\n`;
    this.socket.write(`${s}\r\n`);
    this.headersSent = true;
    return this;
  }

  write(b: Uint8Array): boolean {
    return this.socket.write(b);
  }

  end(body?: string | Uint8Array): void {
    if (this.finished) return;
    if (body !== undefined) this.socket.write(body);
    this.finished = true;
    if (this.closeAfter) this.socket.end();
    this.emit('finish');
  }
}

/**
 * Reads requests from `socket` (whose first bytes, already read, are `first`) and hands each to
 * `onRequest` with its body wired. `onError` gets a short reason when the header block is bad.
 */
export function serveRpcHttp(
  socket: Socket,
  first: Buffer,
  headersTimeoutMs: number,
  onRequest: (req: RpcRequest, res: RpcResponse, expectContinue: boolean) => void,
  onError: (why: string) => void,
): void {
  let buf = first;
  let req: RpcRequest | null = null;
  let timer: NodeJS.Timeout | null = null;
  const armTimer = (): void => {
    timer = setTimeout(() => {
      onError(`no complete request header within ${headersTimeoutMs / 1000} s`);
      socket.destroy();
    }, headersTimeoutMs);
  };
  const fail = (status: number, why: string): void => {
    onError(why);
    socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    socket.destroySoon();
    socket.off('data', onData);
  };
  const feedBody = (): void => {
    const r = req!;
    if (!r.flowing) {
      socket.pause();
      return;
    }
    if (buf.length === 0 || r.remaining === 0) return;
    const take = Math.min(buf.length, r.remaining);
    const chunk = buf.subarray(0, take);
    buf = buf.subarray(take);
    r.remaining -= take;
    r.emit('data', chunk);
    if (r.remaining === 0) finishBody();
  };
  const finishBody = (): void => {
    const r = req!;
    r.ended = true;
    r.emit('end');
  };
  const parseHeader = (): void => {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) {
      if (buf.length > MAX_HEADER_BYTES) fail(400, `request header larger than ${MAX_HEADER_BYTES} bytes`);
      return;
    }
    if (timer !== null) clearTimeout(timer);
    timer = null;
    const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
    buf = buf.subarray(end + 4);
    const m = /^([A-Z_]{1,32}) (\S{1,8000}) HTTP\/1\.[01]$/.exec(lines[0] ?? '');
    if (m === null) return fail(400, `bad request line ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      if (c <= 0) return fail(400, `bad header line ${JSON.stringify(l.slice(0, 80))}`);
      const name = l.slice(0, c).trim().toLowerCase();
      // Two lengths for one body is the request-smuggling shape: refuse rather than pick one.
      if (name === 'content-length' && headers[name] !== undefined) return fail(400, 'repeated Content-Length');
      headers[name] = l.slice(c + 1).trim();
    }
    if (headers['transfer-encoding'] !== undefined) return fail(501, 'chunked request bodies are not used by RPC over HTTP');
    const cl = headers['content-length'] ?? '0';
    if (!/^[0-9]{1,10}$/.test(cl)) return fail(400, `bad Content-Length ${JSON.stringify(cl)}`);
    const r = new RpcRequest(m[1]!, m[2]!, headers, socket, Number(cl));
    r.pump = () => {
      if (req === r) feedBody();
    };
    req = r;
    const res = new RpcResponse(socket);
    res.once('finish', () => {
      // Keep-alive: the next request on this connection, once this one's body is all read.
      if (r.ended && !socket.destroyed && !socket.writableEnded) {
        req = null;
        armTimer();
        if (buf.length > 0) setImmediate(() => onData(Buffer.alloc(0)));
      }
    });
    socket.once('close', () => {
      if (!r.ended) r.emit('close');
    });
    onRequest(r, res, (headers.expect ?? '').toLowerCase() === '100-continue');
    if (r.remaining === 0) finishBody();
    else feedBody();
  };
  const onData = (d: Buffer): void => {
    buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
    if (req === null) parseHeader();
    else if (!req.ended) feedBody();
    else if (buf.length > MAX_HEADER_BYTES) socket.destroy(); // a client that sends past its body without waiting
  };
  armTimer();
  socket.on('data', onData);
  socket.on('error', () => socket.destroy());
  parseHeader();
}
