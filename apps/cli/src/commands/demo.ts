/**
 * `keyway demo`: the README's first command. In a temporary directory it makes a host key
 * and a client key, writes authorized_keys and known_hosts, starts a ThreadedServer with
 * public-key authentication, connects a client, calls the service (a plain call, a remote
 * object, a callback, the credentials the server sees), shows what a wrong key and an
 * unknown server get, measures channel throughput beside node:tls and plain TCP, and
 * cleans up after itself.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthorizedKeys,
  type Connection,
  connect,
  currentCall,
  generateIdentity,
  KnownHosts,
  loadIdentity,
  publicKeyAuth,
  type Remote,
  Service,
  ThreadedServer,
} from 'keyway-rpc';
import type { CliIo } from '../cli.js';
import { measureKeyway, measureTcp, measureTls, type ThroughputResult } from '../throughput.js';

/** A counter that lives on the server and is used from the client by reference. */
class Counter {
  #count = 0;
  constructor(readonly name: string) {}
  increment(by = 1): number {
    this.#count += by;
    return this.#count;
  }
}

/** The demo's service: what a lab machine might expose. */
export class LabService extends Service {
  hostname(): string {
    return hostname();
  }
  add(a: number, b: number): number {
    return a + b;
  }
  counter(name: string): Counter {
    return new Counter(name);
  }
  async countdown(from: number, onTick: (n: number) => Promise<void> | void): Promise<string> {
    for (let n = from; n > 0; n--) await onTick(n);
    return 'liftoff';
  }
  whoami(): unknown {
    return currentCall().connection.credentials;
  }
}

function line(io: CliIo, text = ''): void {
  io.out(`${text}\n`);
}

function table(keyway: ThroughputResult, peers: ThroughputResult[]): string[] {
  const row = (r: ThroughputResult) =>
    `  ${r.name.padEnd(34)} ${r.mbPerSecond.toFixed(0).padStart(6)} MB/s`;
  return [
    row(keyway),
    ...peers.map(
      (p) => `${row(p)}   keyway = ${(keyway.mbPerSecond / p.mbPerSecond).toFixed(2)}x of this`,
    ),
  ];
}

/** Runs the demo. @returns the exit code */
export async function demo(_args: string[], io: CliIo): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'keyway-demo-'));
  let server: ThreadedServer | undefined;
  let conn: Connection | undefined;
  try {
    line(
      io,
      'keyway demo — remote objects over an SSH-style encrypted, mutually authenticated channel',
    );
    line(io);

    // 1. Keys and trust, in the same files and formats as OpenSSH.
    const hostKey = generateIdentity('demo-host');
    const clientKey = generateIdentity('demo-client');
    const files = hostKey.toOpenSSH();
    writeFileSync(join(dir, 'host_key'), files.privateKey, { mode: 0o600 });
    writeFileSync(join(dir, 'host_key.pub'), files.publicKey, { mode: 0o644 });
    writeFileSync(join(dir, 'id_ed25519'), clientKey.toOpenSSH().privateKey, { mode: 0o600 });
    writeFileSync(join(dir, 'authorized_keys'), `${clientKey.publicKeyLine()}\n`, { mode: 0o600 });
    line(io, `1. Keys in ${dir}`);
    line(io, `   host key    ${hostKey.fingerprint} (host_key)`);
    line(io, `   client key  ${clientKey.fingerprint} (id_ed25519, listed in authorized_keys)`);

    // 2. The server: public-key authentication, one service instance per connection.
    server = new ThreadedServer(LabService, {
      host: '127.0.0.1',
      port: 0,
      authenticator: publicKeyAuth({
        identity: await loadIdentity(join(dir, 'host_key')),
        authorizedKeys: await AuthorizedKeys.load(join(dir, 'authorized_keys')),
      }),
    });
    const address = await server.listen();
    const port = 'port' in address ? address.port : 0;
    line(io, `2. ThreadedServer listening on 127.0.0.1:${port} (public-key auth)`);

    // 3. The client knows the server's key (known_hosts) and proves its own.
    const knownHosts = await KnownHosts.load(join(dir, 'known_hosts'));
    knownHosts.add('127.0.0.1', port, hostKey.publicKey);
    await knownHosts.save();
    conn = await connect('127.0.0.1', port, {
      identity: await loadIdentity(join(dir, 'id_ed25519')),
      knownHosts,
    });
    line(io, `3. Connected: server key matched known_hosts, client key accepted`);
    const lab = conn.root as Remote<LabService>;
    line(io, `   lab.hostname()            -> ${JSON.stringify(await lab.hostname())}`);
    line(io, `   lab.add(2, 3)             -> ${await lab.add(2, 3)}`);
    const counter = lab.counter('builds');
    await counter.increment();
    await counter.increment();
    line(
      io,
      `   counter = lab.counter('builds'); counter.increment() x3 -> ${await counter.increment()}  (a remote object)`,
    );
    const ticks: number[] = [];
    const result = await lab.countdown(3, (n: number) => {
      ticks.push(n);
    });
    line(
      io,
      `   lab.countdown(3, onTick)  -> ${result}; the server called back ${ticks.join(', ')}  (a callback)`,
    );
    const who = (await lab.whoami()) as { publicKey?: { fingerprint: string }; methods: string[] };
    line(
      io,
      `   lab.whoami()              -> ${who.methods.join('+')} as ${who.publicKey?.fingerprint}`,
    );
    const rtt = await conn.ping();
    line(io, `   round trip                -> ${rtt.toFixed(2)} ms`);

    // 4. What the others get.
    line(io, '4. What a stranger gets:');
    try {
      await connect('127.0.0.1', port, { identity: generateIdentity('stranger'), knownHosts });
      line(io, '   UNEXPECTED: a key not in authorized_keys was accepted');
      return 1;
    } catch (error) {
      line(
        io,
        `   unknown client key        -> ${(error as Error).name}: ${(error as Error).message}`,
      );
    }
    try {
      await connect('127.0.0.1', port, { identity: clientKey, knownHosts: KnownHosts.parse('') });
      line(io, '   UNEXPECTED: an unknown server was trusted');
      return 1;
    } catch (error) {
      const message = (error as Error).message;
      line(
        io,
        `   server not in known_hosts -> ${(error as Error).name}: ${message.split('. ')[0]}`,
      );
    }
    await conn.close();
    conn = undefined;
    await server.close();
    server = undefined;

    // 5. Channel throughput beside node:tls and plain TCP, measured the same way.
    line(io, '5. Bulk throughput on loopback, 64 KiB frames, the receiver in a worker thread:');
    const keyway = await measureKeyway(1500);
    const tls = await measureTls(1500);
    const tcp = await measureTcp(1500);
    for (const text of table(keyway, [...(tls ? [tls] : []), tcp])) line(io, text);
    if (!tls)
      line(io, '  (node:tls skipped: the openssl command is needed to make its certificate)');
    line(io);
    line(io, 'Done. Next: `pnpm test`, the docs in docs/, and `keyway --help`.');
    return 0;
  } finally {
    await conn?.close();
    await server?.close(0);
    rmSync(dir, { recursive: true, force: true });
  }
}
