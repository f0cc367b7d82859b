#!/usr/bin/env node
/** The `settle` executable. Exit codes: cli/output.ts (`exitCodes`), documented in the README. */
import { CommanderError } from 'commander';
import { exitCodes, failureOf } from './output.ts';
import { program } from './program.ts';

// The AWS SDK warns on every run under Node < 22 that its 2027 releases will need 22; the README says which
// Node to use, and a warning per command would bury the one line a command answers with.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const settle = program();
settle.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) {
    // Commander has printed the problem (or the help); a usage mistake is exit 2, help and version 0.
    process.exit(error.exitCode === 0 ? exitCodes.ok : exitCodes.usage);
  }
  const { code, line } = failureOf(error);
  console.error(line);
  process.exit(code);
});
