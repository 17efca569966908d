/**
 * The service of the payload benchmark (`payload-echo.ts`): an echo of bytes, to measure
 * what the message layer costs per byte, and a trivial call, to measure what it costs
 * per message.
 */
import { Service } from '@keyway/core';

/** Echo and add. */
export default class PayloadService extends Service {
  /** @returns `data`, sent back whole */
  echo(data: Uint8Array): Uint8Array {
    return data;
  }

  /** @returns a + b */
  add(a: number, b: number): number {
    return a + b;
  }
}
