/**
 * The ThreadPoolServer's relay between a socket and its worker: a credit window bounds
 * what the main thread reads for a worker that is busy, and the main thread itself
 * refuses frames longer than the pre-authentication limit, without waiting for the
 * worker. Drives the built package (workers load built JavaScript).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Connection } from '@keyway/core';
import {
  connect,
  DEFAULT_RELAY_WINDOW_BYTES,
  type PoolDisconnectEvent,
  ThreadPoolServer,
} from '@keyway/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alice, keyFiles, knownHosts, sleep } from './helpers.js';

interface LabApi {
  add(a: unknown, b: unknown): Promise<unknown>;
  spin(ms: number): Promise<boolean>;
}

const fixtures = join(import.meta.dirname, 'fixtures');
const files = keyFiles();
let server: ThreadPoolServer;
let port: number;
const opened: Connection[] = [];

async function login(): Promise<{ conn: Connection; lab: LabApi }> {
  const conn = await connect('127.0.0.1', port, { identity: alice, knownHosts: knownHosts(port) });
  opened.push(conn);
  return { conn, lab: conn.root as unknown as LabApi };
}

function rawSocket(): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  return new Promise((resolve) => socket.once('connect', () => resolve(socket)));
}

/** One frame as a keyway peer would frame it: `u16be length ‖ body`. */
function frame(length: number): Buffer {
  const bytes = Buffer.alloc(2 + length);
  bytes.writeUInt16BE(length, 0);
  return bytes;
}

beforeAll(async () => {
  // One worker, so that a CPU-heavy call stalls every connection: the case to defend.
  server = new ThreadPoolServer(pathToFileURL(join(fixtures, 'lab-service.mjs')), {
    threads: 1,
    authenticator: {
      module: pathToFileURL(join(fixtures, 'lab-auth.mjs')).href,
      options: { hostKeyPath: files.hostKeyPath, authorizedKeysPath: files.authorizedKeysPath },
    },
  });
  const address = await server.listen();
  port = (address as { port: number }).port;
});

afterAll(async () => {
  await Promise.all(opened.map((c) => c.close()));
  await server.close(0);
  files.cleanup();
});

describe('ThreadPoolServer relay', () => {
  it('an unauthenticated blaster on a busy worker is held to the credit window', async () => {
    expect(DEFAULT_RELAY_WINDOW_BYTES).toBe(256 * 1024);
    const busy = await login();
    const spinning = busy.lab.spin(3000);
    // Let the call reach the worker and start spinning.
    await sleep(200);
    const blaster = await rawSocket();
    // Frames within the pre-authentication limit, so only the window can stop them.
    const chunk = Buffer.concat(Array.from({ length: 16 }, () => frame(16_000)));
    let flushed = 0;
    const started = Date.now();
    while (Date.now() - started < 2000 && !blaster.destroyed) {
      if (blaster.writableLength < 1024 * 1024) {
        blaster.write(chunk, (error) => {
          if (!error) flushed += chunk.length;
        });
      } else {
        // The kernel buffers are full: the server has stopped reading.
        await sleep(20);
      }
      if (flushed % (4 * chunk.length) === 0) await new Promise((r) => setImmediate(r));
    }
    // What the client got into the kernel bounds what the server read: the window, one
    // socket read, and the loopback socket buffers (a few MiB). Without the window the
    // main thread reads everything: hundreds of MiB in these two seconds.
    console.log(`blaster flushed ${(flushed / 2 ** 20).toFixed(1)} MiB in 2 s`);
    expect(flushed).toBeLessThan(16 * 1024 * 1024);
    blaster.destroy();
    expect(await spinning).toBe(true);
    // The worker is free again and serves as before.
    expect(await busy.lab.add(2, 3)).toBe(5);
  });

  it('the main thread closes an oversize pre-authentication frame while the worker is busy', async () => {
    const busy = await login();
    const spinning = busy.lab.spin(3000);
    await sleep(200);
    const disconnected = new Promise<PoolDisconnectEvent>((resolve) => {
      const onDisconnect = (e: PoolDisconnectEvent) => {
        if (e.authenticated) return;
        server.off('disconnect', onDisconnect);
        resolve(e);
      };
      server.on('disconnect', onDisconnect);
    });
    const socket = await rawSocket();
    const closed = new Promise((resolve) => socket.once('close', resolve));
    const started = Date.now();
    // 16 KiB + 1: one byte over the default pre-authentication frame limit.
    socket.write(frame(16 * 1024 + 1));
    await closed;
    // Closed by the main thread, long before the worker finishes its 3 s spin.
    expect(Date.now() - started).toBeLessThan(1500);
    expect(await spinning).toBe(true);
    expect((await disconnected).reason).toMatch(/exceeds the pre-authentication limit/);
  });

  it('lifts the frame check at the verdict: full-size frames right behind OK pass', async () => {
    const { lab } = await login();
    // A 1 MiB argument travels in 64 KiB frames, sent as soon as OK arrives.
    const big = 'x'.repeat(1024 * 1024);
    expect(await lab.add(big, 'y')).toBe(`${big}y`);
  });

  it('checks its relay options', () => {
    const authenticator = { module: 'unused.js' };
    for (const bad of [
      { relayWindowBytes: 0 },
      { relayWindowBytes: 1.5 },
      { maxPreAuthFrameBytes: 70_000 },
      { maxPreAuthFrameBytes: 10 },
    ]) {
      expect(() => new ThreadPoolServer('unused.js', { authenticator, ...bad })).toThrow(
        RangeError,
      );
    }
  });
});
