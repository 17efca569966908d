import { describe, expect, it } from 'vitest';
import { access, DEFAULT_ACCESS_POLICY, Operation } from '../src/access-gate.js';
import { connectTransport, listRemote } from '../src/connection.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import { byRef, Service } from '../src/service.js';

class Base extends Service {
  inherited() {
    return 1;
  }
}

class Lab extends Base {
  #secret = 1;
  _hidden = 2;
  visible = 3;
  add(a: number, b: number) {
    return a + b + this.#secret * 0;
  }
  get version() {
    return '1';
  }
  _internal() {
    return 0;
  }
  [Symbol.iterator]() {
    return [][Symbol.iterator]();
  }
  tool() {
    return byRef({ cut: () => 'cut', _blade: 'sharp' });
  }
}

describe('Operation.List through the gate', () => {
  it('names prototype methods and getters of the class chain, never private or special names', () => {
    const names = access(Operation.List, new Lab(), undefined, DEFAULT_ACCESS_POLICY);
    expect(names).toEqual(['add', 'inherited', 'tool', 'version']);
  });

  it('adds own fields only when the owner exposes them', () => {
    const names = access(Operation.List, new Lab(), undefined, {
      ...DEFAULT_ACCESS_POLICY,
      allowPublicAttrs: true,
    });
    expect(names).toEqual(['add', 'inherited', 'tool', 'version', 'visible']);
  });

  it('lists nothing on functions and values sent by copy, and refuses a member name', () => {
    expect(access(Operation.List, () => 1, undefined, DEFAULT_ACCESS_POLICY)).toEqual([]);
    expect(access(Operation.List, new Map(), undefined, DEFAULT_ACCESS_POLICY)).toEqual([]);
    expect(() => access(Operation.List, new Lab(), 'add', DEFAULT_ACCESS_POLICY)).toThrow(
      'list takes no member name',
    );
  });
});

describe('listRemote()', () => {
  it('asks the owner which members of a remote object are reachable', async () => {
    const [a, b] = memoryTransportPair();
    const [server, client] = await Promise.all([
      connectTransport(a, { service: Lab }),
      connectTransport(b),
    ]);
    expect(await listRemote(client.root)).toEqual(['add', 'inherited', 'tool', 'version']);
    const tool = (client.root as unknown as { tool(): unknown }).tool();
    expect(await listRemote(tool)).toEqual(['cut']);
    await client.close();
    await server.closed;
  });

  it('refuses what is not a stub', async () => {
    expect(() => listRemote({})).toThrow(TypeError);
  });
});
