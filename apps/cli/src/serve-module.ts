/**
 * How `keyway serve` finds the Service to serve: it imports the module the user named and
 * picks one export, and when that fails it says what to change — the exports there are
 * (and `--export`), building TypeScript first, or installing the package the module
 * imports by name next to it.
 */
import { stat } from 'node:fs/promises';
import { basename, dirname, extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CliError } from './command.js';

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts', '.tsx']);

/** What went wrong importing `path`, with the fix when the cause is a common one. */
function explainImportFailure(path: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const extension = extname(path);
  if (TYPESCRIPT.has(extension)) {
    const built = `${basename(path, extension)}${extension === '.mts' ? '.mjs' : extension === '.cts' ? '.cjs' : '.js'}`;
    return (
      `${path}: this Node.js cannot run a TypeScript module (${message})\n` +
      `  keyway serve runs JavaScript: build it first (for example \`npx tsc\`) and serve ${built}`
    );
  }
  const missing = /Cannot find package '([^']+)'/.exec(message);
  if (code === 'ERR_MODULE_NOT_FOUND' && missing) {
    const name = missing[1]!;
    return (
      `${path}: cannot find the package '${name}' it imports\n` +
      `  Node looks for it in node_modules beside the module and in the folders above it;\n` +
      `  install it there: cd ${dirname(path)} && npm install ${name}`
    );
  }
  return `${path}: the module failed to load: ${message}`;
}

/** A list of names for a message, `(none)` when empty. */
function listNames(names: readonly string[]): string {
  return names.length === 0 ? '(none)' : names.join(', ');
}

/**
 * Imports the service module at `path` (absolute) and returns its export `exportName`.
 * @throws {CliError} with what to do when the file is missing, fails to import, or has no
 *   such export (listing the exports it has).
 */
export async function loadServiceModule(path: string, exportName: string): Promise<object> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (error) {
    throw new CliError(`${path}: no such file\n  give the path of a built JavaScript module`, {
      cause: error,
    });
  }
  if (!info.isFile()) throw new CliError(`${path}: not a file`);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    throw new CliError(explainImportFailure(path, error), { cause: error });
  }
  const service = Object.hasOwn(module, exportName) ? module[exportName] : undefined;
  if ((typeof service === 'function' || typeof service === 'object') && service !== null) {
    return service;
  }
  const names = Object.keys(module).filter((name) => name !== 'default');
  const candidates = names.filter((name) => typeof module[name] === 'function');
  const what = exportName === 'default' ? 'no default export' : `no export '${exportName}'`;
  const found = service === undefined ? what : `export '${exportName}' is not a class or object`;
  const hint =
    candidates.length > 0
      ? `  serve one of them with --export, e.g. --export ${candidates[0]}`
      : '  export a Service: export default class Calculator extends Service { … }';
  throw new CliError(`${path}: ${found}; its exports: ${listNames(names)}\n${hint}`);
}
