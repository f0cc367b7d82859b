/**
 * `#/machine/<name>`: the diagram with counts (a state chosen in it filters the list), the counts by state, and
 * the instance list with its filters and pages. The filters live in the route, so a filtered list is a link.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, type ListFilters } from '../api.ts';
import { Badge, Diagram, ErrorNote, Loading, Section, Time } from '../components.tsx';
import { markOnce } from '../marks.ts';
import { instanceHref, machineHref } from '../route.ts';
import { useNow, usePoll } from '../use-poll.ts';
import { FleetTable } from './fleet-table.tsx';

export const pageSize = 50;
const statuses = ['active', 'done', 'error', 'stopped'];
const outcomes = ['resolve', 'reject', 'done', 'error', 'ignored', 'dead-lettered'];

export function MachineView({ machine, filters }: { readonly machine: string; readonly filters: ListFilters }) {
  const now = useNow();
  const fleet = usePoll((signal) => api.fleet(machine, signal), `fleet:${machine}`);
  const filter = (next: ListFilters) => {
    location.hash = machineHref(machine, next);
  };
  useEffect(() => {
    if (fleet.data) markOnce('settle:fleet-rendered');
  }, [fleet.data]);
  const knownStates = fleet.data ? Object.keys(fleet.data.counts).sort() : [];

  return (
    <>
      <h1>
        Machine <span class="name">{machine}</span>
      </h1>
      <ErrorNote error={fleet.error} stale={fleet.data !== undefined} />
      <div class="machine-body">
        {fleet.data ? (
          <Diagram
            svg={fleet.data.diagram}
            label={`The ${machine} machine with how many instances rest in each state. Choose a state to list only its instances${
              filters.state ? `; showing ${filters.state}` : ''
            }.`}
            selected={filters.state}
            onState={(state) => filter({ ...filters, state: state === filters.state ? undefined : state })}
          />
        ) : fleet.error ? null : (
          <Loading what="the diagram" />
        )}
        {fleet.data ? <FleetTable fleet={fleet.data} now={now} caption="By state" /> : null}
      </div>
      <Section title="Instances" id="instances">
        <Filters machine={machine} filters={filters} knownStates={knownStates} onFilter={filter} />
        <InstanceList key={JSON.stringify(filters)} machine={machine} filters={filters} now={now} />
        <OpenInstance machine={machine} />
      </Section>
    </>
  );
}

function Filters({
  machine,
  filters,
  knownStates,
  onFilter,
}: {
  readonly machine: string;
  readonly filters: ListFilters;
  readonly knownStates: readonly string[];
  readonly onFilter: (filters: ListFilters) => void;
}) {
  const [state, setState] = useState(filters.state ?? '');
  useEffect(() => setState(filters.state ?? ''), [filters.state]);
  const filtered = Boolean(filters.state || filters.status || filters.outcome);
  return (
    <form
      class="filters"
      aria-label="Filter the instances"
      onSubmit={(event) => {
        event.preventDefault();
        onFilter({ ...filters, state: state.trim() || undefined });
      }}
    >
      <label>
        State
        <input
          name="state"
          list={`states-of-${machine}`}
          value={state}
          placeholder="any, or a path: review.legal"
          onInput={(event) => setState(event.currentTarget.value)}
        />
        <datalist id={`states-of-${machine}`}>
          {knownStates.map((path) => (
            <option key={path} value={path} />
          ))}
        </datalist>
      </label>
      <label>
        Status
        <select
          name="status"
          value={filters.status ?? ''}
          onChange={(event) => onFilter({ ...filters, status: event.currentTarget.value || undefined })}
        >
          <option value="">any</option>
          {statuses.map((status) => (
            <option key={status} value={status}>
              {status}
            </option>
          ))}
        </select>
      </label>
      <label>
        Last outcome
        <select
          name="outcome"
          value={filters.outcome ?? ''}
          onChange={(event) => onFilter({ ...filters, outcome: event.currentTarget.value || undefined })}
        >
          <option value="">any</option>
          {outcomes.map((outcome) => (
            <option key={outcome} value={outcome}>
              {outcome}
            </option>
          ))}
        </select>
      </label>
      <button type="submit">Filter</button>
      {filtered ? (
        <button type="button" class="secondary" onClick={() => onFilter({})}>
          Clear filters
        </button>
      ) : null}
    </form>
  );
}

function InstanceList({ machine, filters, now }: { readonly machine: string; readonly filters: ListFilters; readonly now: number }) {
  // The cursors of the pages shown so far; the last is the current page's ('' for the first).
  const [cursors, setCursors] = useState<string[]>(['']);
  const cursor = cursors[cursors.length - 1] || undefined;
  const page = usePoll(
    (signal) => api.instances(machine, filters, cursor, pageSize, signal),
    `instances:${machine}:${JSON.stringify(filters)}:${cursor ?? ''}`,
  );
  useEffect(() => {
    if (page.data) markOnce('settle:instances-rendered');
  }, [page.data]);
  const description = [
    filters.state ? `in ${filters.state}` : '',
    filters.status ? `status ${filters.status}` : '',
    filters.outcome ? `last outcome ${filters.outcome}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  const items = page.data?.items ?? [];
  return (
    <>
      <ErrorNote error={page.error} stale={page.data !== undefined} />
      {page.data === undefined ? (
        page.error ? null : (
          <Loading what="the instances" />
        )
      ) : (
        <table class="instances" data-testid="instance-list">
          <caption>
            {items.length === 0
              ? 'No instances'
              : `Instances ${(cursors.length - 1) * pageSize + 1}–${(cursors.length - 1) * pageSize + items.length}`}
            {description ? ` ${description}` : ''}, oldest update first within a state
          </caption>
          <thead>
            <tr>
              <th scope="col">Instance</th>
              <th scope="col">States</th>
              <th scope="col">Status</th>
              <th scope="col">Last outcome</th>
              <th scope="col">Updated</th>
              <th scope="col">Next timer</th>
            </tr>
          </thead>
          <tbody>
            {items.map((item) => (
              <tr key={item.key} data-key={item.key}>
                <th scope="row">
                  <a href={instanceHref(item.key)}>{item.id}</a>
                </th>
                <td>
                  <ul class="states">
                    {item.states.map((state) => (
                      <li key={state}>{state}</li>
                    ))}
                  </ul>
                </td>
                <td>
                  <Badge value={item.status} />
                </td>
                <td>
                  <Badge value={item.outcome} />
                </td>
                <td>
                  <Time iso={item.updatedAt} now={now} />
                </td>
                <td>
                  <Time iso={item.wakeAt} now={now} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav class="pager" aria-label="Pages of instances">
        <button type="button" class="secondary" disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous page
        </button>
        <span>Page {cursors.length}</span>
        <button
          type="button"
          class="secondary"
          disabled={!page.data?.cursor}
          onClick={() => page.data?.cursor && setCursors([...cursors, page.data.cursor])}
        >
          Next page
        </button>
      </nav>
    </>
  );
}

function OpenInstance({ machine }: { readonly machine: string }) {
  const [id, setId] = useState('');
  return (
    <form
      class="open-instance"
      onSubmit={(event) => {
        event.preventDefault();
        if (id.trim()) location.hash = instanceHref(`${machine}/${id.trim()}`);
      }}
    >
      <label>
        Open an instance by id (a new id: send it its first event)
        <input name="id" value={id} placeholder="doc-17" onInput={(event) => setId(event.currentTarget.value)} />
      </label>
      <button type="submit">Open</button>
    </form>
  );
}
