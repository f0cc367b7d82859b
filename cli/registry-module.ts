import { watch, type FSWatcher } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import type { MachineRegistry } from '../runtime/core/registry.ts';

/** A registry module as loaded: the registry and the files of the user's own that it was built from. */
export interface LoadedRegistry {
  readonly registry: MachineRegistry;
  /** Absolute paths of the module and every local file it imports (packages excluded). */
  readonly files: readonly string[];
}

/**
 * Loads a registry module, TypeScript or JavaScript, with no build step. Each call loads the module and
 * the user's files it imports afresh (packages such as xstate stay shared), so a reload sees every edit.
 * The module exports the registry as `registry` or as its default export.
 */
export async function loadRegistry(path: string): Promise<LoadedRegistry> {
  const absolute = resolve(path);
  const files = new Set<string>([absolute]);
  const module = (await tsImport(pathToFileURL(absolute).href, {
    parentURL: import.meta.url,
    onImport: (url) => {
      if (!url.startsWith('file:')) return;
      const file = fileURLToPath(url.replace(/\?.*$/, ''));
      if (!file.includes('/node_modules/')) files.add(file);
    },
  })) as { registry?: unknown; default?: unknown };
  const registry = module.registry ?? module.default;
  if (!isRegistry(registry)) {
    throw new Error(
      `${path} exports no registry. Export one as \`registry\` (or as the default export), made with defineRegistry: ` +
        'export const registry = defineRegistry({ orders: { machine: orderMachine, version: 1 } });',
    );
  }
  return { registry, files: [...files] };
}

function isRegistry(value: unknown): value is MachineRegistry {
  if (typeof value !== 'object' || value === null) return false;
  return Object.values(value).every((entry) => typeof entry === 'object' && entry !== null && 'machine' in entry && 'version' in entry);
}

/**
 * What changed between two registries that a developer should hear about: a machine whose states or
 * transitions changed while its version did not. Stored instances restore into the new definition, which
 * is fine for a new action or guard, and breaks when a state they rest in was renamed or removed.
 */
export function unbumpedChanges(before: MachineRegistry, after: MachineRegistry): string[] {
  const found: string[] = [];
  for (const [name, next] of Object.entries(after)) {
    const previous = Object.hasOwn(before, name) ? before[name] : undefined;
    if (!previous || previous.version !== next.version) continue;
    if (shapeOf(previous.machine) !== shapeOf(next.machine)) {
      found.push(
        `machine '${name}' changed but is still version ${next.version}: instances saved before restore into the new definition. ` +
          'If a state they may rest in was renamed or removed, or the context reshaped, bump the version and give a migrate().',
      );
    }
  }
  return found;
}

/** The machine's structure as JSON (states, transitions, tags, delays; implementations are functions and drop out). */
function shapeOf(machine: MachineRegistry[string]['machine']): string {
  return JSON.stringify(machine.root.definition);
}

/** Calls `onChange` (debounced) when any of `files` changes; returns a function that stops watching. */
export function watchFiles(files: readonly string[], onChange: () => void, debounceMs = 150): () => void {
  let timer: NodeJS.Timeout | undefined;
  const watchers: FSWatcher[] = [];
  const fire = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  for (const file of files) {
    try {
      watchers.push(watch(file, fire));
    } catch {
      // A file that vanished between load and watch: the next load sees what is there.
    }
  }
  return () => {
    clearTimeout(timer);
    for (const watcher of watchers) watcher.close();
  };
}
