import type { TestProject } from 'vitest/node';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../../src/demo/throwaway-postgres.js';

let server: ThrowawayPostgres | undefined;

/** One real PostgreSQL server per test run, on a free port in a temporary folder, stopped at the end. */
export async function setup(project: TestProject): Promise<void> {
  server = await startThrowawayPostgres();
  project.provide('pg', { port: server.port, user: server.user, password: server.password });
}

export async function teardown(): Promise<void> {
  await server?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    pg: { port: number; user: string; password: string };
  }
}
