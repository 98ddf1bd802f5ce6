/** Entry of replay's capture reader thread (replay-reader.ts starts it from the built file). */
import { workerData } from 'node:worker_threads';
import { readerThreadMain, type ReaderThreadData } from './replay-reader.js';

readerThreadMain(workerData as ReaderThreadData);
