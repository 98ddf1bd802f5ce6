/**
 * HTTP Basic pre-authentication against an Apache htpasswd file of bcrypt entries (`htpasswd -B`:
 * `user:$2y$cost$...`), checked with bcryptjs. Other hash kinds (MD5 apr1, SHA1, crypt) are
 * ignored and reported: they are weak, and bcrypt is what the documentation asks for.
 *
 * bcrypt is slow on purpose (~50-300 ms a check), and RPC over HTTP clients authenticate every
 * channel request: a successful check is remembered for a short while under a SHA-256 of the
 * credentials, and at most MAX_CONCURRENT checks run at once (more get a 503: a flood of wrong
 * passwords must not take the CPU from the established connections).
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import bcrypt from 'bcryptjs';

const CACHE_TTL_MS = 5 * 60_000;
const CACHE_MAX = 4096;
const MAX_CONCURRENT = 8;
const BCRYPT_RE = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

export interface UsersFileResult {
  users: Map<string, string>;
  /** Lines that were skipped, with why ("line 3: user x has a non-bcrypt hash"). */
  skipped: string[];
}

/** Parses htpasswd text: bcrypt entries only. */
export function parseHtpasswd(text: string): UsersFileResult {
  const users = new Map<string, string>();
  const skipped: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      skipped.push(`line ${i + 1}: not USER:HASH`);
      return;
    }
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1).trim();
    if (!BCRYPT_RE.test(hash)) {
      skipped.push(`line ${i + 1}: user ${JSON.stringify(user)} has a non-bcrypt hash (use htpasswd -B)`);
      return;
    }
    users.set(user, hash);
  });
  return { users, skipped };
}

export const AUTH_OK = 0;
export const AUTH_MISSING = 1;
export const AUTH_BAD = 2;
export const AUTH_BUSY = 3;

export interface AuthResult {
  status: number;
  user: string;
}

/** The users of one listener, re-read when the file's mtime or size changes. */
export class Users {
  private users = new Map<string, string>();
  private stamp = '';
  private readonly okCache = new Map<string, number>();
  private running = 0;

  constructor(readonly file: string, private readonly onSkip: (why: string) => void = () => {}) {
    this.refresh();
  }

  /** Re-reads the file if it changed; throws (with the path) if it cannot be read at all. */
  refresh(): void {
    const st = statSync(this.file);
    const stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (stamp === this.stamp) return;
    const parsed = parseHtpasswd(readFileSync(this.file, 'utf8'));
    for (const s of parsed.skipped) this.onSkip(`${this.file} ${s}`);
    this.users = parsed.users;
    this.okCache.clear();
    this.stamp = stamp;
  }

  get size(): number {
    return this.users.size;
  }

  /** Checks an `Authorization` header value. */
  async check(header: string | undefined, nowMs: number): Promise<AuthResult> {
    if (header === undefined || !/^basic /i.test(header)) return { status: AUTH_MISSING, user: '' };
    let decoded: string;
    try {
      decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    } catch {
      return { status: AUTH_BAD, user: '' };
    }
    const colon = decoded.indexOf(':');
    if (colon < 0) return { status: AUTH_BAD, user: '' };
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    try {
      this.refresh();
    } catch {
      // The file went away or is unreadable: keep the users already loaded (logged by the caller on reload).
    }
    // Outlook and Samba send DOMAIN\\user (or \\user with no domain): the htpasswd name is the part after the backslash.
    const slash = user.lastIndexOf('\\');
    const hash = this.users.get(user) ?? (slash >= 0 ? this.users.get(user.slice(slash + 1)) : undefined);
    if (hash === undefined) return { status: AUTH_BAD, user };
    const key = createHash('sha256').update(hash).update('\0').update(decoded).digest('base64');
    const until = this.okCache.get(key);
    if (until !== undefined && until > nowMs) return { status: AUTH_OK, user };
    if (this.running >= MAX_CONCURRENT) return { status: AUTH_BUSY, user };
    this.running++;
    try {
      if (!(await bcrypt.compare(password, hash))) return { status: AUTH_BAD, user };
    } finally {
      this.running--;
    }
    if (this.okCache.size >= CACHE_MAX) this.okCache.clear();
    this.okCache.set(key, nowMs + CACHE_TTL_MS);
    return { status: AUTH_OK, user };
  }
}
