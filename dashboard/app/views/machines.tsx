/** `#/`: every machine with its diagram, how many instances rest in each state, and the oldest wait there. */
import { api, ApiError, type Fleet, type MachineInfo } from '../api.ts';
import { Diagram, ErrorNote, Loading } from '../components.tsx';
import { count } from '../format.ts';
import { machineHref } from '../route.ts';
import { useNow, usePoll } from '../use-poll.ts';
import { FleetTable } from './fleet-table.tsx';

interface Overview {
  readonly machines: readonly MachineInfo[];
  readonly fleets: Readonly<Record<string, Fleet | ApiError>>;
}

async function overview(signal: AbortSignal): Promise<Overview> {
  const machines = await api.machines(signal);
  const fleets = await Promise.all(
    machines.map((machine) =>
      api
        .fleet(machine.name, signal)
        .catch((error: unknown) => (error instanceof ApiError ? error : new ApiError(0, 'error', String(error)))),
    ),
  );
  return { machines, fleets: Object.fromEntries(machines.map((machine, index) => [machine.name, fleets[index] as Fleet | ApiError])) };
}

export function MachinesView() {
  const { data, error } = usePoll(overview, 'machines');
  const now = useNow();
  return (
    <>
      <h1>Machines</h1>
      <ErrorNote error={error} stale={data !== undefined} />
      {data === undefined ? (
        error ? null : (
          <Loading what="the machines" />
        )
      ) : data.machines.length === 0 ? (
        <p>The registry has no machines.</p>
      ) : (
        data.machines.map((machine) => {
          const fleet = data.fleets[machine.name];
          return (
            <article class="machine card" key={machine.name} aria-labelledby={`machine-${machine.name}`}>
              <header>
                <h2 id={`machine-${machine.name}`}>
                  <a href={machineHref(machine.name)}>{machine.name}</a> <span class="muted">v{machine.version}</span>
                </h2>
                {fleet && !(fleet instanceof ApiError) ? (
                  <p class="total">
                    {count(fleet.total)} {fleet.total === 1 ? 'instance' : 'instances'}
                  </p>
                ) : null}
              </header>
              {fleet instanceof ApiError ? <ErrorNote error={fleet} /> : null}
              <div class="machine-body">
                <Diagram
                  svg={fleet && !(fleet instanceof ApiError) ? fleet.diagram : machine.diagram}
                  label={`The ${machine.name} machine, with how many instances rest in each state. Choose a state to list them.`}
                  onState={(state) => {
                    location.hash = machineHref(machine.name, { state });
                  }}
                />
                {fleet && !(fleet instanceof ApiError) ? <FleetTable fleet={fleet} now={now} caption={`${machine.name} by state`} /> : null}
              </div>
            </article>
          );
        })
      )}
    </>
  );
}
