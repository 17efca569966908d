/**
 * The code a ThreadPoolServer worker runs for each connection (docs/design.md §5): the
 * handshake, the authenticator chain, the channel and the RPC session all live here, in
 * one worker, over the socket's bytes relayed from the main thread.
 */
import { type Connection, connectTransport, type ServiceSpec, SharedBudget } from '@keyway/core';
import { type Authenticator, acceptConnection } from '@keyway/secure';
import { budgetKeyOf } from './budget.js';
import { debugFromEnvironment } from './debug.js';
import { drainAndClose, IdleSweeper } from './idle.js';
import { PortLoginGate } from './login-gate.js';
import { cached, describe, loadAuthenticator, loadService } from './module-loader.js';
import { withNetworkDefaults } from './network-defaults.js';
import type { PoolTask, PoolTaskResult } from './pool-task.js';
import { type PortControl, PortDuplex } from './port-duplex.js';

// A worker has its own copy of every module: the environment's debug request applies here too.
debugFromEnvironment();

const services = new Map<string, Promise<ServiceSpec>>();
const sweepers = new Map<number, IdleSweeper>();

/** One sweeper per idle timeout per worker, shared by its connections. */
function idleSweeper(timeoutMs: number): IdleSweeper {
  let sweeper = sweepers.get(timeoutMs);
  if (!sweeper) {
    sweeper = new IdleSweeper(timeoutMs);
    sweepers.set(timeoutMs, sweeper);
  }
  return sweeper;
}
const authenticators = new Map<string, Promise<Authenticator>>();
const budgets = new Map<string, SharedBudget>();

/** One budget per worker (per server's sizes), shared by its connections. */
function workerBudget(task: PoolTask): SharedBudget {
  const key = JSON.stringify(task.budget);
  let budget = budgets.get(key);
  if (!budget) {
    budget = new SharedBudget(task.budget);
    budgets.set(key, budget);
  }
  return budget;
}

/** Serves one connection; resolves when it has closed. */
export default async function serveConnection(task: PoolTask): Promise<PoolTaskResult> {
  const stream = new PortDuplex(task.port, task.remoteAddress, task.remotePort, task.ackBytes);
  stream.on('error', () => {});
  let connection: Connection | undefined;
  stream.onControl((message: PortControl) => {
    // The main thread asks every connection, authenticated or not, for server.stats().
    if (message.t === 'stats-request')
      stream.control({ t: 'stats-reply', id: message.id, stats: connection?.stats() ?? null });
    else if (message.t === 'close' && connection !== undefined)
      void drainAndClose([connection], message.graceMs);
  });
  const deadline = setTimeout(() => stream.destroy(), task.limits.handshakeTimeoutMs);
  const loginGate = new PortLoginGate(task.loginGate);
  let accepted: Awaited<ReturnType<typeof acceptConnection>>;
  let service: ServiceSpec;
  try {
    service = await cached(services, `${task.serviceModule}#${task.serviceExport}`, () =>
      loadService(task.serviceModule, task.serviceExport),
    );
    const authenticator = await cached(authenticators, JSON.stringify(task.authenticator), () =>
      loadAuthenticator(task.authenticator),
    );
    // The main thread checks frame lengths until it hears the verdict, which must reach it
    // before OK does: the client may send full-size frames right behind OK.
    const relayed: Authenticator = async (raw, context) => {
      const result = await authenticator(raw, context);
      stream.control({ t: 'verdict' });
      return result;
    };
    accepted = await acceptConnection(stream, relayed, {
      remoteAddress: task.remoteAddress,
      remotePort: task.remotePort,
      service: task.serviceName,
      loginGate,
      // Log events are plain data: they cross to the main thread's `log` as they are.
      log: task.log ? (event) => stream.control({ t: 'log', event }) : undefined,
    });
  } catch (error) {
    // acceptConnection closed the stream; the task ends once it is gone, so that the main
    // thread does not cut the connection before the client has read its FAIL.
    if (!stream.destroyed) await new Promise((resolve) => stream.once('close', resolve));
    return { authenticated: false, error: String((error as { reason?: string }).reason ?? error) };
  } finally {
    clearTimeout(deadline);
    // Authentication is over: nothing more to ask the shared limiter.
    loginGate.close();
  }
  stream.control({ t: 'authenticated', credentials: accepted.credentials });
  let opened: Connection;
  try {
    opened = await connectTransport(
      idleSweeper(task.limits.idleTimeoutMs).track(accepted.transport),
      {
        ...withNetworkDefaults(task.connection),
        service,
        credentials: accepted.credentials,
        budget: workerBudget(task),
        budgetKey: budgetKeyOf(accepted.credentials),
      },
    );
  } catch (error) {
    // Authenticated, but the session never opened (the service's onConnect refused this
    // peer, or the peer hung up): a disconnect with its reason, not a failed worker.
    accepted.transport.close(error as Error);
    stream.destroy();
    return { authenticated: true, error: describe(error) };
  }
  connection = opened;
  const reason = await opened.closed.then(
    (r) => r,
    (r: Error) => r,
  );
  stream.destroy();
  return { authenticated: true, error: reason === undefined ? undefined : String(reason) };
}
