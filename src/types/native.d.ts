/** Minimal typings of the two native addons, as rpcgw uses them. */
declare module 'cap' {
  import type { EventEmitter } from 'node:events';
  export class Cap extends EventEmitter {
    open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
    close(): void;
    send(buffer: Buffer, nBytes?: number): void;
    setMinBytes?(n: number): void;
    static findDevice(ip?: string): string | undefined;
    static deviceList(): { name: string; addresses: { addr: string }[] }[];
    on(event: 'packet', listener: (nbytes: number, truncated: boolean) => void): this;
  }
  const cap: { Cap: typeof Cap };
  export default cap;
}

declare module 'raw-socket' {
  export interface SocketWrap {
    /** Synchronous sendto(); calls `done` before returning. Throws on a send error (e.g. EAGAIN). */
    send(buffer: Buffer, offset: number, length: number, address: string, done: (bytes: number) => void): void;
    pause(recvPaused: boolean, sendPaused: boolean): void;
  }
  export interface RawSocket {
    wrap: SocketWrap;
    close(): void;
    pauseRecv(): RawSocket;
    setOption(level: number, option: number, value: number): void;
    on(event: 'error', listener: (err: Error) => void): RawSocket;
  }
  const raw: {
    createSocket(opts: { protocol: number; addressFamily?: number }): RawSocket;
    SocketLevel: { IPPROTO_IP: number; SOL_SOCKET: number };
    SocketOption: { IP_HDRINCL: number; SO_SNDBUF: number; SO_RCVBUF: number };
    AddressFamily: { IPv4: number; IPv6: number };
    Protocol: { None: number; TCP: number; UDP: number };
  };
  export default raw;
}
