import { describe, expect, it } from 'vitest';
import type { Connection } from '../src/connection.js';
import type { Remote } from '../src/remote.js';
import { Service } from '../src/service.js';
import { connectionPair, TRANSPORTS } from './helpers.js';

class ClientSide extends Service {
  greeted: string[] = [];
  greet(name: string) {
    this.greeted.push(name);
    return `hello ${name}`;
  }
}

class Server extends Service {
  #conn: Connection | undefined;
  override onConnect(conn: Connection) {
    this.#conn = conn;
  }
  add(a: number, b: number) {
    return a + b;
  }
  async each(n: number, callback: (i: number) => Promise<number>) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += await callback(i);
    return sum;
  }
  async greetClient(name: string) {
    return (this.#conn!.root as Remote<ClientSide>).greet(name);
  }
  call(fn: (x: number) => Promise<number>, x: number) {
    return fn(x);
  }
}

for (const kind of TRANSPORTS) {
  describe(`callbacks and symmetry over ${kind}`, () => {
    it('a server loop calls a client callback while the client keeps calling the server', async () => {
      const { client } = await connectionPair(kind, { service: Server });
      const server = client.root as Remote<Server>;
      const seen: number[] = [];
      const looping = server.each(200, async (i: number) => {
        seen.push(i);
        // The client calls the server from inside the callback the server is awaiting.
        return server.add(i, 0);
      });
      const meanwhile = await Promise.all(Array.from({ length: 50 }, (_, i) => server.add(i, 1)));
      expect(meanwhile[49]).toBe(50);
      expect(await looping).toBe((199 * 200) / 2);
      expect(seen).toHaveLength(200);
    });

    it('the server calls the client root', async () => {
      const { client } = await connectionPair(kind, { service: Server }, { service: ClientSide });
      expect(await (client.root as Remote<Server>).greetClient('bob')).toBe('hello bob');
      expect((client.service as ClientSide).greeted).toEqual(['bob']);
    });

    it('a callback passed twice is the same remote function on the other side', async () => {
      const { client } = await connectionPair(kind, { service: Server });
      const double = async (x: number) => x * 2;
      const server = client.root as Remote<Server>;
      expect(await server.call(double, 4)).toBe(8);
      expect(await server.call(double, 5)).toBe(10);
    });
  });
}
