/** A machine's fleet counts as a table: every state path (ancestors included), its count and its oldest wait. */
import { count, duration } from '../format.ts';
import type { Fleet } from '../api.ts';
import { machineHref } from '../route.ts';

export function FleetTable({ fleet, now, caption }: { readonly fleet: Fleet; readonly now: number; readonly caption: string }) {
  const paths = Object.keys(fleet.counts).sort();
  return (
    <table class="fleet" data-testid={`fleet-${fleet.machine}`}>
      <caption>
        {caption}: <span data-testid="fleet-total">{count(fleet.total)}</span> {fleet.total === 1 ? 'instance' : 'instances'}
      </caption>
      <thead>
        <tr>
          <th scope="col">State</th>
          <th scope="col" class="number">
            Instances
          </th>
          <th scope="col" class="number">
            Oldest waiting
          </th>
        </tr>
      </thead>
      <tbody>
        {paths.length === 0 ? (
          <tr>
            <td colSpan={3} class="muted">
              No instances yet.
            </td>
          </tr>
        ) : (
          paths.map((path) => {
            const entry = fleet.counts[path];
            const depth = path.split('.').length - 1;
            return (
              <tr key={path} data-count-state={path}>
                <th scope="row" style={{ paddingLeft: `${0.5 + depth * 1.25}em` }}>
                  <a href={machineHref(fleet.machine, { state: path })}>{path.slice(path.lastIndexOf('.') + 1)}</a>
                  {depth > 0 ? <span class="path muted"> {path}</span> : null}
                </th>
                <td class="number">{count(entry?.count ?? 0)}</td>
                <td class="number">{entry ? duration(now - Date.parse(entry.oldestUpdatedAt)) : '—'}</td>
              </tr>
            );
          })
        )}
      </tbody>
    </table>
  );
}
