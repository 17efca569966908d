/**
 * OPAQUE-3DH login cost (docs/design.md §4, §6): server-side milliseconds per attempt for a known
 * user and for an unknown one (they should cost the same: no enumeration by timing), the
 * client's cost with the default scrypt KSF on both providers, and the event-loop lag p99
 * on the server's thread while 20 full logins per second run (target < 20 ms).
 *
 * Run after `pnpm build`, from `benchmarks/`:
 *   npx tsc --ignoreConfig --module nodenext --moduleResolution nodenext --target es2023 \
 *     --strict --skipLibCheck --types node --outDir dist src/opaque-login.ts
 *   node dist/opaque-login.js
 * Numbers are printed, never asserted.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import {
  createKsf,
  DEFAULT_KSF_PARAMS,
  deserializeKE1,
  deserializeKE2,
  deserializeKE3,
  generateServerSetup,
  type KE3,
  type KsfParams,
  OpaqueClientLogin,
  OpaqueClientRegistration,
  OpaqueServer,
  opaqueContext,
  serializeKE1,
  serializeKE2,
  serializeKE3,
} from '@keyway/secure';

const server = new OpaqueServer(generateServerSetup());
const context = opaqueContext(new Uint8Array(32).fill(1));

async function register(user: string, password: string, ksf: KsfParams) {
  const { request, registration } = OpaqueClientRegistration.start(password);
  const { record } = await registration.finish(server.createRegistrationResponse(request, user), {
    ksf,
  });
  return record;
}

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return `mean ${mean.toFixed(2)} ms  p50 ${q(0.5).toFixed(2)}  p99 ${q(0.99).toFixed(2)}  (n=${s.length})`;
}

/** Server work only: startLogin (KE2) + finish (KE3 check), with KE1/KE3 made beforehand. */
async function serverCost(known: boolean, rounds: number) {
  const cheap: KsfParams = { algorithm: 'scrypt', N: 1024, r: 8, p: 1 };
  const record = await register('alice', 'pw', cheap);
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const { ke1, login } = OpaqueClientLogin.start('pw');
    const user = known ? 'alice' : `nobody${i}`;
    const t0 = performance.now();
    const { ke2, login: srv } = server.startLogin(ke1, user, known ? record : undefined, {
      context,
    });
    const t1 = performance.now();
    let ke3: KE3 = { clientMac: new Uint8Array(64) };
    if (known) ke3 = (await login.finish(ke2, { ksf: cheap, context })).ke3;
    const t2 = performance.now();
    try {
      srv.finish(ke3);
    } catch {
      // unknown user: the expected failure
    }
    samples.push(t1 - t0 + (performance.now() - t2));
  }
  return samples;
}

async function clientKsfCost(provider: 'node' | 'noble', rounds: number) {
  const ksf = createKsf(DEFAULT_KSF_PARAMS, { scryptProvider: provider });
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    await ksf.stretch(new Uint8Array(64).fill(i));
    samples.push(performance.now() - t0);
  }
  return samples;
}

/**
 * Server on this thread, clients in a worker thread (as a remote client would be): the
 * event-loop delay of this thread is what a server running 20 logins/s would see. Clients
 * use a cheap KSF here, since on a 2-core machine 20 default scrypt runs per second
 * (~0.3 s each) would starve both threads; server work does not depend on the KSF.
 */
async function lagUnderLoad(perSecond: number, seconds: number) {
  const cheap: KsfParams = { algorithm: 'scrypt', N: 1024, r: 8, p: 1 };
  const record = await register('alice', 'correct horse', cheap);
  const worker = new Worker(new URL(import.meta.url), { workerData: { ksf: cheap } });
  const pending = new Map<number, (m: ClientReply) => void>();
  worker.on('message', (m: ClientReply) => pending.get(m.id)?.(m));
  const ask = (m: { id: number; op: string; bytes?: Uint8Array }) =>
    new Promise<ClientReply>((resolve) => {
      pending.set(m.id, resolve);
      worker.postMessage(m);
    });
  await ask({ id: -1, op: 'ping' });
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const latencies: number[] = [];
  const inflight: Promise<void>[] = [];
  let failures = 0;
  for (let i = 0; i < perSecond * seconds; i++) {
    const t0 = performance.now();
    inflight.push(
      (async () => {
        const a = await ask({ id: 2 * i, op: 'start' });
        const { ke2, login } = server.startLogin(deserializeKE1(a.bytes!), 'alice', record, {
          context,
        });
        const b = await ask({ id: 2 * i + 1, op: 'finish', bytes: serializeKE2(ke2) });
        try {
          login.finish(deserializeKE3(b.bytes!));
        } catch {
          failures++;
        }
        latencies.push(performance.now() - t0);
      })(),
    );
    await new Promise((r) => setTimeout(r, 1000 / perSecond));
  }
  await Promise.all(inflight);
  h.disable();
  await worker.terminate();
  return { lagP99: h.percentile(99) / 1e6, lagMax: h.max / 1e6, latencies, failures };
}

interface ClientReply {
  id: number;
  bytes?: Uint8Array;
}

/** Worker side: one client per login id pair, driven by the main thread. */
function clientWorker() {
  const ksf = (workerData as { ksf: KsfParams }).ksf;
  const logins = new Map<number, OpaqueClientLogin>();
  parentPort!.on('message', async (m: { id: number; op: string; bytes?: Uint8Array }) => {
    if (m.op === 'ping') return parentPort!.postMessage({ id: m.id });
    if (m.op === 'start') {
      const { ke1, login } = OpaqueClientLogin.start('correct horse');
      logins.set(m.id + 1, login);
      return parentPort!.postMessage({ id: m.id, bytes: serializeKE1(ke1) });
    }
    const login = logins.get(m.id)!;
    logins.delete(m.id);
    const { ke3 } = await login.finish(deserializeKE2(m.bytes!), { ksf, context });
    parentPort!.postMessage({ id: m.id, bytes: serializeKE3(ke3) });
  });
}

async function fullLoginDefaultKsf(rounds: number) {
  const record = await register('bob', 'correct horse', DEFAULT_KSF_PARAMS);
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    const { ke1, login } = OpaqueClientLogin.start('correct horse');
    const { ke2, login: srv } = server.startLogin(ke1, 'bob', record, { context });
    const { ke3 } = await login.finish(ke2, { ksf: DEFAULT_KSF_PARAMS, context });
    srv.finish(ke3);
    samples.push(performance.now() - t0);
  }
  return samples;
}

async function main() {
  console.log('OPAQUE-3DH ristretto255-SHA512 (noble) — keyway @keyway/secure');
  await serverCost(true, 20); // warm-up
  console.log(`server, known user   : ${stats(await serverCost(true, 200))}`);
  console.log(`server, unknown user : ${stats(await serverCost(false, 200))}`);
  console.log(
    `client KSF scrypt N=2^16 r=8 p=1, node:crypto : ${stats(await clientKsfCost('node', 10))}`,
  );
  console.log(
    `client KSF scrypt N=2^16 r=8 p=1, noble      : ${stats(await clientKsfCost('noble', 5))}`,
  );
  console.log(
    `full login, default KSF, one process, unloaded: ${stats(await fullLoginDefaultKsf(5))}`,
  );
  const lag = await lagUnderLoad(20, 5);
  console.log(
    `server thread at 20 logins/s for 5 s (clients in a worker): event-loop lag p99 ` +
      `${lag.lagP99.toFixed(1)} ms, max ${lag.lagMax.toFixed(1)} ms; round trip ` +
      `${stats(lag.latencies)}; failures ${lag.failures}`,
  );
}

if (isMainThread) await main();
else clientWorker();
