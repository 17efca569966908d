/**
 * Setup of the portable run (`vitest.portable.config.ts`): before any test file imports
 * core, the globals only Node has are removed, so that core using one of them fails the
 * run as it would fail in a browser or a web worker. What the test runner itself still
 * needs from Node (`process`, whose `nextTick` Node's own streams call) stays, but core
 * may not call `process.nextTick`: the call throws when it comes from core's source.
 */

const removed = [
  'setImmediate',
  'clearImmediate',
  'Buffer',
  'global',
  'require',
  'module',
  '__filename',
  '__dirname',
] as const;

for (const name of removed) {
  Reflect.deleteProperty(globalThis, name);
  if (name in globalThis) throw new Error(`could not remove the global ${name}`);
}

// V8-only; Firefox and older Safari have none.
Reflect.deleteProperty(Error, 'captureStackTrace');

// Where core's modules live, as the stack shows them.
const CORE_SOURCE = /[\\/]packages[\\/]core[\\/]src[\\/]/;
const nodeNextTick = process.nextTick;
function guardedNextTick(...args: Parameters<typeof nodeNextTick>): void {
  // The caller is the frame below this one.
  const caller = new Error().stack?.split('\n')[2] ?? '';
  if (CORE_SOURCE.test(caller))
    throw new ReferenceError('process.nextTick is not defined (core called it: not portable)');
  nodeNextTick.apply(process, args);
}
// The runner swaps process.nextTick around its own calls; the guard must stay in place.
Object.defineProperty(process, 'nextTick', {
  configurable: true,
  get: () => guardedNextTick,
  set: () => {},
});
