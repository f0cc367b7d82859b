/**
 * `#/instance/<machine>/<id>`: the diagram with every region's current state lit, where it stands, a Send form
 * with the events its states take, context, timers, the history with outcomes, and its dead letters.
 */
import { useEffect } from 'preact/hooks';
import { api, type InstanceDetail, redriveRunning } from '../api.ts';
import { Badge, Diagram, ErrorNote, Loading, Section, Time } from '../components.tsx';
import { localTime, prettyJson } from '../format.ts';
import { markOnce } from '../marks.ts';
import { machineHref } from '../route.ts';
import { useNow, usePoll } from '../use-poll.ts';
import { DeadLetterTable } from './dead-letter-table.tsx';
import { SendForm } from './send-form.tsx';

export function InstancePage({ machine, id }: { readonly machine: string; readonly id: string }) {
  const key = `${machine}/${id}`;
  const detail = usePoll((signal) => api.instance(key, signal), `instance:${key}`, { holdWhile: redriveRunning });
  const now = useNow();
  useEffect(() => {
    if (detail.data) markOnce('settle:instance-rendered');
  }, [detail.data]);
  const missing = detail.error?.code === 'unknown-instance';

  return (
    <>
      <p class="crumbs">
        <a href={machineHref(machine)}>{machine}</a> /
      </p>
      <h1>
        Instance <span class="name">{key}</span>
      </h1>
      {missing ? (
        <NewInstance instanceKey={key} machine={machine} onSent={detail.refresh} />
      ) : (
        <ErrorNote error={detail.error} stale={detail.data !== undefined} />
      )}
      {detail.data === undefined ? (
        detail.error ? null : (
          <Loading what={key} />
        )
      ) : (
        <Detail detail={detail.data} now={now} refresh={detail.refresh} />
      )}
    </>
  );
}

function Detail({ detail, now, refresh }: { readonly detail: InstanceDetail; readonly now: number; readonly refresh: () => void }) {
  const { instance } = detail;
  return (
    <>
      <div class="instance-top">
        <dl class="facts" data-testid="instance-facts">
          <dt>States</dt>
          <dd>
            <ul class="states" data-testid="instance-states">
              {instance.states.map((state) => (
                <li key={state}>{state}</li>
              ))}
            </ul>
          </dd>
          <dt>Status</dt>
          <dd>
            <Badge value={instance.status} />
          </dd>
          <dt>Last outcome</dt>
          <dd>
            <Badge value={instance.outcome} />
          </dd>
          <dt>Tags</dt>
          <dd>{instance.tags.length > 0 ? instance.tags.join(', ') : <span class="muted">none</span>}</dd>
          <dt>Machine version</dt>
          <dd>{instance.machineVersion}</dd>
          <dt>Last event</dt>
          <dd>{instance.lastSeq}</dd>
          <dt>Created</dt>
          <dd>
            <Time iso={instance.createdAt} now={now} />
          </dd>
          <dt>Updated</dt>
          <dd>
            <Time iso={instance.updatedAt} now={now} /> <span class="muted small">(write {instance.version})</span>
          </dd>
        </dl>
        <SendForm
          instanceKey={instance.key}
          events={detail.events}
          note="The types its current states have transitions for (guards may still turn one down)."
          onSent={refresh}
        />
      </div>
      <Diagram
        svg={detail.diagram}
        label={`The ${instance.machine} machine with ${instance.key}'s current states lit: ${instance.states.join(', ')}.`}
      />
      <div class="columns">
        <Section title="Context">
          <pre class="json" data-testid="context">
            {prettyJson(instance.context)}
          </pre>
        </Section>
        <Section title="Timers">
          {instance.timers.length === 0 ? (
            <p class="muted">No pending timers.</p>
          ) : (
            <table class="timers">
              <thead>
                <tr>
                  <th scope="col">Event</th>
                  <th scope="col">Due</th>
                  <th scope="col">At</th>
                </tr>
              </thead>
              <tbody>
                {instance.timers.map((timer) => (
                  <tr key={timer.id}>
                    <td>
                      <code>{timer.eventType}</code>
                      {timer.target ? <span class="muted small"> to {timer.target}</span> : null}
                    </td>
                    <td>
                      <Time iso={timer.fireAt} now={now} />
                    </td>
                    <td>{localTime(timer.fireAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Section>
      </div>
      <Section title="History">
        <p class="muted small">The last {instance.history.length} events, newest first.</p>
        <ol class="timeline" reversed data-testid="history">
          {[...instance.history].reverse().map((entry) => (
            <li key={entry.seq} class={`entry-${entry.outcome}`}>
              <div class="entry-head">
                <code class="type">{entry.type}</code> <Badge value={entry.outcome} /> <Time iso={entry.at} now={now} />{' '}
                <span class="muted small">event {entry.seq}</span>
              </div>
              {entry.error || entry.reason ? (
                <p class="reason">
                  {entry.error ? <code>{entry.error}</code> : null} {entry.reason}
                </p>
              ) : null}
              {entry.redriveOf ? <p class="muted small">redrive of letter {entry.redriveOf}</p> : null}
            </li>
          ))}
        </ol>
      </Section>
      <Section title="Dead letters" id="instance-letters">
        <DeadLetterTable letters={detail.deadLetters} now={now} showInstance={false} onChanged={refresh} />
      </Section>
    </>
  );
}

/** An instance no event has created yet: its first event creates it. */
function NewInstance({
  instanceKey,
  machine,
  onSent,
}: {
  readonly instanceKey: string;
  readonly machine: string;
  readonly onSent: () => void;
}) {
  const machines = usePoll(api.machines, 'machines-list', { intervalMs: 60_000 });
  const info = machines.data?.find((entry) => entry.name === machine);
  return (
    <>
      <p class="note">{instanceKey} does not exist yet: the first event sent to it creates it.</p>
      <ErrorNote error={machines.error} />
      {machines.data === undefined ? null : info ? (
        <SendForm instanceKey={instanceKey} events={info.events} note={`Every event type the ${machine} machine takes.`} onSent={onSent} />
      ) : (
        <p class="note error">There is no machine named {machine}.</p>
      )}
    </>
  );
}
