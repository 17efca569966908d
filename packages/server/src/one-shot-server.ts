/**
 * `OneShotServer`: serves exactly one connection, then stops listening — for a test rig
 * that hands one controller one session.
 */
import type { ServiceSpec } from '@keyway/core';
import type { Admission } from './listener.js';
import { ThreadedServer, type ThreadedServerOptions } from './threaded-server.js';

/**
 * Accepts one connection, stops listening at once, and closes itself when that connection
 * ends. `done` resolves then.
 * @example
 * const server = new OneShotServer(Rig, { authenticator });
 * await server.listen(); await server.done;
 */
export class OneShotServer extends ThreadedServer {
  #taken = false;
  #resolveDone!: () => void;
  /** Resolves once the one connection has ended and the server is closed. */
  readonly done: Promise<void> = new Promise((resolve) => {
    this.#resolveDone = resolve;
  });

  constructor(service: ServiceSpec, options: ThreadedServerOptions) {
    super(service, options);
  }

  protected override admit(admission: Admission): void {
    if (this.#taken) {
      admission.socket.destroy();
      return;
    }
    this.#taken = true;
    void this.stopListening(false);
    admission.socket.once('close', () => {
      void this.close().then(() => this.#resolveDone());
    });
    super.admit(admission);
  }
}
