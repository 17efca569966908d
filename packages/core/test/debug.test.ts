import { afterEach, describe, expect, it } from 'vitest';
import { connectTransport } from '../src/connection.js';
import { setRpcDebugLogger } from '../src/debug.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import type { Remote } from '../src/remote.js';
import { Service } from '../src/service.js';

class Calc extends Service {
  add(a: number, b: number): number {
    return a + b;
  }
  fail(): never {
    throw new RangeError('no');
  }
}

afterEach(() => setRpcDebugLogger(undefined));

describe('setRpcDebugLogger', () => {
  it('receives a call event and a return event for every request served', async () => {
    const events: [string, Record<string, unknown>][] = [];
    setRpcDebugLogger((event, fields) => events.push([event, { ...fields }]));
    const [a, b] = memoryTransportPair();
    const [client, server] = await Promise.all([
      connectTransport(a, {}),
      connectTransport(b, { service: Calc }),
    ]);
    const calc = client.root as Remote<Calc>;
    expect(await calc.add(1, 2)).toBe(3);
    await expect(calc.fail()).rejects.toThrow('no');
    const calls = events.filter(([e]) => e === 'call').map(([, f]) => f);
    const returns = events.filter(([e]) => e === 'return').map(([, f]) => f);
    expect(calls).toContainEqual(expect.objectContaining({ op: 'call', path: 'add' }));
    expect(calls).toContainEqual(expect.objectContaining({ op: 'call', path: 'fail' }));
    const add = calls.find((f) => f.path === 'add')!;
    expect(returns).toContainEqual(expect.objectContaining({ id: add.id, ok: true }));
    expect(returns).toContainEqual(expect.objectContaining({ ok: false, error: 'RangeError' }));
    await client.close();
    await server.close();
  });

  it('removed, it receives nothing; a non-function is refused', async () => {
    const events: string[] = [];
    setRpcDebugLogger((event) => events.push(event));
    setRpcDebugLogger(undefined);
    const [a, b] = memoryTransportPair();
    const [client, server] = await Promise.all([
      connectTransport(a, {}),
      connectTransport(b, { service: Calc }),
    ]);
    expect(await (client.root as Remote<Calc>).add(1, 1)).toBe(2);
    expect(events).toEqual([]);
    expect(() => setRpcDebugLogger('yes' as unknown as undefined)).toThrow(TypeError);
    await client.close();
    await server.close();
  });
});
