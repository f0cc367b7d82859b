/**
 * The dashboard's hash routes: `#/` machines, `#/machine/<name>[?state=&status=&outcome=]`,
 * `#/instance/<machine>/<id>`, `#/dead-letters`. Pure: parsing and formatting only.
 */
import type { ListFilters } from './contract.ts';

export type Route =
  | { readonly name: 'machines' }
  | { readonly name: 'machine'; readonly machine: string; readonly filters: ListFilters }
  | { readonly name: 'instance'; readonly machine: string; readonly id: string }
  | { readonly name: 'dead-letters' }
  | { readonly name: 'not-found'; readonly hash: string };

const filterNames = ['state', 'status', 'outcome'] as const;

const decode = (text: string) => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

export function parseRoute(hash: string): Route {
  const text = hash.replace(/^#/, '') || '/';
  const [path = '/', search = ''] = text.split('?', 2);
  const segments = path.split('/').filter((segment) => segment !== '');
  const [head, ...rest] = segments;
  if (head === undefined) return { name: 'machines' };
  if (head === 'dead-letters' && rest.length === 0) return { name: 'dead-letters' };
  if (head === 'machine' && rest.length === 1 && rest[0]) {
    const parameters = new URLSearchParams(search);
    const filters: Record<string, string> = {};
    for (const name of filterNames) {
      const value = parameters.get(name);
      if (value) filters[name] = value;
    }
    return { name: 'machine', machine: decode(rest[0]), filters };
  }
  if (head === 'instance' && rest.length >= 2 && rest[0]) {
    return { name: 'instance', machine: decode(rest[0]), id: decode(rest.slice(1).join('/')) };
  }
  return { name: 'not-found', hash: text };
}

export function machineHref(machine: string, filters: ListFilters = {}): string {
  const parameters = new URLSearchParams();
  for (const name of filterNames) {
    const value = filters[name];
    if (value) parameters.set(name, value);
  }
  const search = parameters.toString();
  return `#/machine/${encodeURIComponent(machine)}${search ? `?${search}` : ''}`;
}

/** The page of an instance, from its key `<machine>/<id>`. */
export function instanceHref(key: string): string {
  const slash = key.indexOf('/');
  const machine = slash === -1 ? key : key.slice(0, slash);
  const id = slash === -1 ? '' : key.slice(slash + 1);
  return `#/instance/${encodeURIComponent(machine)}/${encodeURIComponent(id)}`;
}

export const machinesHref = '#/';
export const deadLettersHref = '#/dead-letters';
