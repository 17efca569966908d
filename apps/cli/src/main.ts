#!/usr/bin/env node
/**
 * The `keyway` command. Subcommands are added as the packages they drive land; each one
 * has `--help`, exits 0 on success, 1 on failure and 2 on a usage error.
 */
import { run } from './cli.js';

process.exitCode = await run(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
});
