#!/usr/bin/env node
/** The `settle` executable. */
import { program } from './program.ts';

program()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    if (error instanceof Error && error.cause) console.error('  cause:', error.cause instanceof Error ? error.cause.message : error.cause);
    process.exit(1);
  });
