/**
 * The program a ProcessPoolServer worker process runs (docs/design.md §5). The primary
 * accepts each socket, admits it under the server limits, and hands it over with
 * `child.send(message, socket)`; from then on this process owns the socket: the
 * handshake, the authenticator chain, the channel and the RPC session run here, and no
 * byte of the connection crosses a thread or process again. The primary only hears when
 * the connection authenticated and when it ended (to keep its admission counts), and
 * answers password-login questions from its limiter, which all workers share.
 */
import type { Socket } from 'node:net';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import {
  type Connection,
  connectTransport,
  type ServiceSpec,
  SharedBudget,
  TimeoutError,
} from '@keyway/core';
import { type Authenticator, acceptConnection } from '@keyway/secure';
import { budgetKeyOf } from './budget.js';
import { drainAndClose, IdleSweeper } from './idle.js';
import { type GateRequest, PortLoginGate } from './login-gate.js';
import { describe, loadAuthenticator, loadService } from './module-loader.js';
import { withNetworkDefaults } from './network-defaults.js';
import type { FromWorker, ToWorker, WorkerConfig } from './process-protocol.js';
import { addConnectionStats, emptyServerStats } from './stats.js';

interface Served {
  readonly socket: Socket;
  connection?: Connection;
  /** This process's end of the connection's login gate, while it authenticates. */
  gate?: MessagePort;
}

interface Setup {
  readonly config: WorkerConfig;
  readonly service: ServiceSpec;
  readonly authenticator: Authenticator;
  readonly budget: SharedBudget;
  readonly idle: IdleSweeper;
}

const served = new Map<number, Served>();
let setup: Setup | undefined;
let closing = false;

function send(message: FromWorker): void {
  // The primary is gone (it died or disconnected us): nobody to report to.
  if (process.connected) process.send?.(message);
}

async function init(config: WorkerConfig): Promise<void> {
  try {
    const [service, authenticator] = await Promise.all([
      loadService(config.serviceModule, config.serviceExport),
      loadAuthenticator(config.authenticator),
    ]);
    setup = {
      config,
      service,
      authenticator,
      budget: new SharedBudget(config.budget),
      idle: new IdleSweeper(config.limits.idleTimeoutMs),
    };
    send({ t: 'ready' });
  } catch (error) {
    send({ t: 'init-failed', error: describe(error) });
  }
}

/** Resolves once `socket` has closed, destroying it if it takes longer than `ms`. */
function closedWithin(socket: Socket, ms: number): Promise<void> {
  if (socket.destroyed && socket.closed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => socket.destroy(), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The connection's login gate: a local MessageChannel relayed to the primary by id. */
function loginGate(id: number, entry: Served): PortLoginGate {
  const { port1, port2 } = new MessageChannel();
  port1.on('message', (request: GateRequest) => send({ t: 'gate', id, request }));
  entry.gate = port1;
  return new PortLoginGate(port2);
}

async function serve(id: number, socket: Socket, remoteAddress: string, remotePort?: number) {
  const entry: Served = { socket };
  served.set(id, entry);
  let authenticated = false;
  let reason: string | undefined;
  try {
    reason = await authenticateAndServe(id, entry, remoteAddress, remotePort, () => {
      authenticated = true;
    });
  } catch (error) {
    reason = describe(error);
  }
  socket.destroy();
  served.delete(id);
  send({ t: 'disconnect', id, authenticated, reason });
}

async function authenticateAndServe(
  id: number,
  entry: Served,
  remoteAddress: string,
  remotePort: number | undefined,
  onAuthenticated: () => void,
): Promise<string | undefined> {
  const { socket } = entry;
  socket.on('error', () => {});
  // A socket rebuilt from a passed handle starts with Node's defaults: Nagle's algorithm
  // on, which holds back each small frame written while an earlier one is unacknowledged.
  socket.setNoDelay(true);
  if (setup === undefined || closing) return 'closing';
  const { config, service, authenticator, budget, idle } = setup;
  const deadline = setTimeout(() => {
    socket.destroy(
      new TimeoutError(`authentication took longer than ${config.limits.handshakeTimeoutMs} ms`),
    );
  }, config.limits.handshakeTimeoutMs);
  const gate = loginGate(id, entry);
  let accepted: Awaited<ReturnType<typeof acceptConnection>>;
  try {
    accepted = await acceptConnection(socket, authenticator, {
      remoteAddress,
      remotePort,
      service: config.serviceName,
      loginGate: gate,
    });
  } catch (error) {
    // acceptConnection closed the stream gracefully, so that the client reads its FAIL;
    // the slot stays counted until the socket is really gone.
    await closedWithin(socket, config.limits.handshakeTimeoutMs);
    // The precise reason (the peer was told only FAIL), as ThreadPoolServer reports it.
    return String((error as { reason?: string }).reason ?? error);
  } finally {
    clearTimeout(deadline);
    gate.close();
    entry.gate?.close();
    entry.gate = undefined;
  }
  onAuthenticated();
  send({ t: 'authenticated', id });
  if (closing) {
    accepted.transport.close();
    return 'closing';
  }
  let connection: Connection;
  try {
    connection = await connectTransport(idle.track(accepted.transport), {
      ...withNetworkDefaults(config.connection),
      service,
      credentials: accepted.credentials,
      budget,
      budgetKey: budgetKeyOf(accepted.credentials),
    });
  } catch (error) {
    // Authenticated, but the session never opened (onConnect refused, or the peer left).
    accepted.transport.close(error as Error);
    return describe(error);
  }
  entry.connection = connection;
  const ended = await connection.closed.then(
    (r) => r,
    (r: Error) => r,
  );
  return ended === undefined ? undefined : String(ended);
}

function stats(id: number): void {
  let authenticating = 0;
  for (const entry of served.values()) if (entry.connection === undefined) authenticating++;
  const total = emptyServerStats(authenticating);
  for (const entry of served.values()) {
    if (entry.connection !== undefined) addConnectionStats(total, entry.connection.stats());
  }
  send({ t: 'stats-reply', id, stats: total });
}

async function close(graceMs: number): Promise<void> {
  closing = true;
  const open: Connection[] = [];
  for (const entry of served.values()) {
    if (entry.connection !== undefined) open.push(entry.connection);
    else entry.socket.destroy();
  }
  await drainAndClose(open, graceMs);
  setup?.idle.stop();
}

process.on('message', (message: ToWorker, handle?: unknown) => {
  switch (message.t) {
    case 'init':
      void init(message.config);
      break;
    case 'conn':
      if (handle === undefined || handle === null) {
        send({ t: 'disconnect', id: message.id, authenticated: false, reason: 'no socket' });
        break;
      }
      void serve(message.id, handle as Socket, message.remoteAddress, message.remotePort);
      break;
    case 'gate':
      served.get(message.id)?.gate?.postMessage(message.verdict);
      break;
    case 'stats':
      stats(message.id);
      break;
    case 'close':
      void close(message.graceMs);
      break;
  }
});
// The primary went away (or stopped this worker): nothing can admit or count connections
// any more.
process.on('disconnect', () => process.exit(0));
// Ctrl-C in a terminal, and a service manager's stop, signal the whole process group: the
// primary closes gracefully (calls in flight finish), so the workers wait for it.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
