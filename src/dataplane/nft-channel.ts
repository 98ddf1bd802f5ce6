/**
 * One long-lived channel to nftables: a child `nft -i` (interactive mode) fed one line per batch.
 * nft runs each line as one transaction, silent on success, and writes an error (echoing the
 * offending line) to stderr. After each batch line the channel writes a sentinel that always
 * fails — `list table ip rpcgw-ack-N` for a table that never exists — so stderr reads, in order:
 * the batch's errors (if any), then the sentinel's error naming N. Everything on stderr before
 * sentinel N belongs to batch N. Batches are pipelined: several may be in flight.
 *
 * Commands submitted in the same turn of the event loop go out as one line (one transaction;
 * up to MAX_BATCH). A batch that fails is retried command by command, so one bad element (its
 * rule removed meanwhile, say) does not take its neighbours with it. Measured against
 * `nft -f -` per batch in bench/ (nft-channel): see docs/performance.md.
 *
 * The child lives until close() (it keeps the process alive; it also ends when our end of its
 * stdin closes, so a killed daemon leaves no nft behind).
 *
 * Failures never throw: nft missing, dead or refusing is reported to each command's callback
 * (and `onTrouble`); the next submit starts a new child.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** Commands per transaction line. */
export const MAX_BATCH = 128;
const SENTINEL_TABLE = 'rpcgw-ack-';
/** A child that answered nothing for this long is taken for hung and replaced. */
const REPLY_TIMEOUT_MS = 5000;

export type NftDone = (error: string | null) => void;

interface Batch {
  id: number;
  commands: string[];
  done: NftDone[];
  sentMs: number;
  /** A retry of one command of a failed batch: its failure is final. */
  single: boolean;
}

export interface NftChannelOptions {
  /** The interactive nft command line (default `nft -i`; tests run it in a namespace of their own). */
  argv?: readonly string[];
  /** Commands per transaction line (default MAX_BATCH). */
  maxBatch?: number;
  /** Something went wrong with the child itself (spawn failure, exit, hang). */
  onTrouble?: (message: string) => void;
}

export class NftChannel {
  private child: ChildProcess | null = null;
  private nextId = 1;
  private readonly inFlight: Batch[] = [];
  private queued: { command: string; done: NftDone }[] = [];
  private flushScheduled = false;
  private errText = '';
  private stderrBuf = '';
  private watchdog: NodeJS.Timeout | null = null;
  private closed = false;
  /** Transactions sent and commands carried, for metrics and the bench. */
  batches = 0;
  commands = 0;
  failures = 0;

  constructor(private readonly opts: NftChannelOptions = {}) {}

  /** Queues one nft command; `done(null)` once the kernel applied it, `done(error)` if not. */
  submit(command: string, done: NftDone): void {
    if (this.closed) return done('nft channel closed');
    this.queued.push({ command, done });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** submit() as a promise. */
  run(command: string): Promise<string | null> {
    return new Promise((resolve) => this.submit(command, resolve));
  }

  /** Ends the child; what is still in flight or queued is failed. */
  close(): void {
    this.closed = true;
    this.failAll('nft channel closed');
    this.child?.stdin?.end();
    this.child = null;
  }

  private flush(): void {
    this.flushScheduled = false;
    const q = this.queued;
    this.queued = [];
    const per = this.opts.maxBatch ?? MAX_BATCH;
    for (let i = 0; i < q.length; i += per) {
      const part = q.slice(i, i + per);
      this.send(part.map((x) => x.command), part.map((x) => x.done), false);
    }
  }

  private send(commands: string[], done: NftDone[], single: boolean): void {
    const child = this.ensureChild();
    if (child === null) {
      for (const d of done) d('cannot run nft (install nftables)');
      return;
    }
    const id = this.nextId++;
    this.inFlight.push({ id, commands, done, sentMs: Date.now(), single });
    this.batches++;
    this.commands += commands.length;
    // A newline inside a command would split the transaction: commands are one line each.
    child.stdin!.write(`${commands.map((c) => c.replace(/[\r\n]+/g, ' ')).join('; ')}\nlist table ip ${SENTINEL_TABLE}${id}\n`);
    this.armWatchdog();
  }

  private ensureChild(): ChildProcess | null {
    if (this.child !== null) return this.child;
    let c: ChildProcess;
    try {
      const [cmd, ...args] = this.opts.argv ?? ['nft', '-i'];
      c = spawn(cmd!, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    } catch (e) {
      this.opts.onTrouble?.(`cannot run nft: ${(e as Error).message}`);
      return null;
    }
    this.child = c;
    this.stderrBuf = '';
    this.errText = '';
    c.stdin!.on('error', () => {}); // a dead child: 'exit' fails what is in flight
    c.stderr!.setEncoding('utf8');
    c.stderr!.on('data', (t: string) => this.onStderr(t));
    c.on('error', (e) => this.childGone(c, `nft: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    c.on('exit', (code, signal) => this.childGone(c, `nft -i exited (${signal ?? code})`));
    return c;
  }

  private childGone(c: ChildProcess, why: string): void {
    if (this.child !== c) return;
    this.child = null;
    if (!this.closed) this.opts.onTrouble?.(why);
    this.failAll(why);
  }

  private failAll(why: string): void {
    const batches = this.inFlight.splice(0);
    for (const b of batches) for (const d of b.done) d(why);
    const q = this.queued;
    this.queued = [];
    for (const x of q) x.done(why);
    if (this.watchdog !== null) clearTimeout(this.watchdog);
    this.watchdog = null;
  }

  private onStderr(text: string): void {
    this.stderrBuf += text;
    let nl: number;
    while ((nl = this.stderrBuf.indexOf('\n')) >= 0) {
      const line = this.stderrBuf.slice(0, nl);
      this.stderrBuf = this.stderrBuf.slice(nl + 1);
      const at = line.indexOf(SENTINEL_TABLE);
      if (/^\s*[\^~]+\s*$/.test(line)) continue; // the marker line under an echoed command
      if (at < 0) {
        // The sentinel's own "Error: No such file or directory" line precedes its echo; it is
        // dropped with the rest of the sentinel's text below.
        this.errText += line + '\n';
        continue;
      }
      const id = parseInt(line.slice(at + SENTINEL_TABLE.length), 10);
      this.settle(id);
    }
  }

  /** Sentinel `id` seen: its batch ended; what stderr said before it (less the sentinel's own error line) is the batch's error. */
  private settle(id: number): void {
    const lines = this.errText.split('\n').filter((l) => l !== '');
    this.errText = '';
    // The last "Error:" line before the sentinel's echo is the sentinel's own.
    const own = lines.map((l) => l.startsWith('Error:')).lastIndexOf(true);
    const err = (own >= 0 ? lines.slice(0, own) : lines).join('\n').trim();
    const i = this.inFlight.findIndex((b) => b.id === id);
    if (i < 0) return;
    const [b] = this.inFlight.splice(i, 1) as [Batch];
    this.armWatchdog();
    if (err === '') {
      for (const d of b.done) d(null);
      return;
    }
    if (b.commands.length > 1 && !b.single) {
      // One transaction: nothing of it was applied. Each command on its own, so only the bad one fails.
      b.commands.forEach((c, k) => this.send([c], [b.done[k]!], true));
      return;
    }
    this.failures++;
    for (const d of b.done) d(err.split('\n')[0]!.replace(/^Error: /, '') + (b.commands.length === 1 ? ` (in: ${b.commands[0]})` : ''));
  }

  private armWatchdog(): void {
    if (this.watchdog !== null) clearTimeout(this.watchdog);
    this.watchdog = null;
    if (this.inFlight.length === 0) return;
    this.watchdog = setTimeout(() => {
      const c = this.child;
      this.opts.onTrouble?.(`nft -i answered nothing for ${REPLY_TIMEOUT_MS} ms: restarted`);
      this.child = null;
      c?.kill('SIGKILL');
      this.failAll('nft did not answer');
    }, REPLY_TIMEOUT_MS);
    this.watchdog.unref();
  }
}
