import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { build } from 'esbuild';
import { expect, it } from 'vitest';
import { parseXml } from './xml.ts';

const root = join(import.meta.dirname, '..', '..');

/**
 * The dashboard draws in the browser too: diagram/index.ts (elkjs's bundled build included) must bundle for the
 * browser, with no Node built-in, and run where there is no `require`, `process`, `Buffer` or Web Worker.
 */
it('bundles for the browser and draws a machine with no Node API', async () => {
  const bundle = await build({
    stdin: {
      contents: `
        import { createMachine } from 'xstate';
        import { machineDiagram } from './diagram/index.ts';
        const machine = createMachine({
          id: 'door',
          initial: 'closed',
          states: {
            closed: { tags: ['resolve'], on: { OPEN: 'open' } },
            open: { tags: ['resolve'], on: { CLOSE: 'closed' }, after: { 30000: 'closed' } },
          },
        });
        globalThis.drawn = machineDiagram(machine, { active: ['open'] });
      `,
      resolveDir: root,
      loader: 'ts',
      sourcefile: 'browser-entry.ts',
    },
    bundle: true,
    platform: 'browser',
    format: 'iife',
    write: false,
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const code = bundle.outputFiles[0]?.text ?? '';
  expect(code).not.toMatch(/require\(["']node:/);

  const sandbox: Record<string, unknown> = { console, setTimeout, clearTimeout, queueMicrotask };
  sandbox.globalThis = sandbox;
  sandbox.self = sandbox;
  runInNewContext(code, sandbox, { timeout: 20_000 });
  const svg = await (sandbox.drawn as Promise<string>);
  const parsed = parseXml(svg);
  expect(parsed.name).toBe('svg');
  expect(svg).toContain('data-state="open"');
  expect(svg).toContain('data-active="true"');
  expect(svg).toContain('after 30 s');
}, 30_000);
