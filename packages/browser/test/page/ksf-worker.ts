// The test page's key-stretching worker, as an application writes it.
import { serveKsfWorker } from '../../src/index.js';

serveKsfWorker();
