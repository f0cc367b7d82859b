/**
 * Dead letters with their reasons, each with a Redrive button. A refused redrive says why and offers to force
 * it; every result stays listed above the table after its letter has left the queue.
 */
import { useState } from 'preact/hooks';
import { api, ApiError, type DeadLetterView, type RedriveResult } from '../api.ts';
import { Time } from '../components.tsx';
import { prettyBody } from '../format.ts';
import { instanceHref } from '../route.ts';

interface LetterState {
  readonly busy: boolean;
  readonly refused?: RedriveResult | undefined;
}

interface LogEntry {
  readonly id: number;
  readonly instanceKey: string;
  readonly status: RedriveResult['status'] | 'error';
  readonly message: string;
}

export function DeadLetterTable({
  letters,
  now,
  showInstance,
  onChanged,
}: {
  readonly letters: readonly DeadLetterView[];
  readonly now: number;
  readonly showInstance: boolean;
  /** Called after a redrive, to load the view again. */
  readonly onChanged: () => void;
}) {
  const [states, setStates] = useState<Readonly<Record<string, LetterState>>>({});
  const [log, setLog] = useState<readonly LogEntry[]>([]);

  const redrive = async (letter: DeadLetterView, force: boolean) => {
    setStates((all) => ({ ...all, [letter.messageId]: { busy: true } }));
    const entries: Omit<LogEntry, 'id'>[] = [];
    let refused: RedriveResult | undefined;
    try {
      const results = await api.redrive(letter.letterId, force);
      if (results.length === 0) {
        entries.push({
          instanceKey: letter.instanceKey,
          status: 'error',
          message: 'not found: another redrive or browse may hold it; try again shortly',
        });
      }
      for (const result of results) {
        entries.push({ instanceKey: result.letter.instanceKey, status: result.status, message: result.message });
        if (result.status === 'refused' && result.letter.messageId === letter.messageId) refused = result;
      }
    } catch (error) {
      entries.push({
        instanceKey: letter.instanceKey,
        status: 'error',
        message: error instanceof ApiError ? `${error.code}: ${error.message}` : String(error),
      });
    }
    setStates((all) => ({ ...all, [letter.messageId]: { busy: false, refused } }));
    setLog((previous) => [...entries.map((entry, index) => ({ ...entry, id: Date.now() + index })), ...previous].slice(0, 10));
    onChanged();
  };

  return (
    <>
      <div class="redrive-log" role="status" aria-live="polite">
        {log.length > 0 ? (
          <ul>
            {log.map((entry) => (
              <li key={entry.id} class={`redrive-${entry.status}`}>
                <strong>{entry.status}</strong> {entry.instanceKey}: {entry.message}
              </li>
            ))}
          </ul>
        ) : null}
      </div>
      {letters.length === 0 ? (
        <p class="muted">No dead letters.</p>
      ) : (
        <table class="letters" data-testid="dead-letters">
          <thead>
            <tr>
              <th scope="col">Sent</th>
              {showInstance ? <th scope="col">Instance</th> : null}
              <th scope="col">Code</th>
              <th scope="col">Reason</th>
              <th scope="col">Event</th>
              <th scope="col">Redrive</th>
            </tr>
          </thead>
          <tbody>
            {letters.map((letter) => {
              const state = states[letter.messageId];
              return (
                <tr key={letter.messageId} data-letter-id={letter.letterId}>
                  <td>
                    <Time iso={letter.sentAt} now={now} />
                    {letter.sequenceNumber ? <div class="muted small">seq {letter.sequenceNumber}</div> : null}
                  </td>
                  {showInstance ? (
                    <td>
                      <a href={instanceHref(letter.instanceKey)}>{letter.instanceKey}</a>
                    </td>
                  ) : null}
                  <td>
                    <code>{letter.code ?? 'moved by SQS'}</code>
                  </td>
                  <td class="reason" id={`reason-${letter.messageId}`}>
                    {letter.reason ?? 'SQS moved it after its last receive, without a decision by the worker.'}
                  </td>
                  <td>
                    <pre class="body">{prettyBody(letter.body)}</pre>
                  </td>
                  <td class="actions">
                    <button
                      type="button"
                      aria-describedby={`reason-${letter.messageId}`}
                      disabled={state?.busy}
                      onClick={() => void redrive(letter, false)}
                    >
                      {state?.busy ? 'Redriving…' : 'Redrive'}
                    </button>
                    {state?.refused ? (
                      <div class="refused">
                        <p>Refused: {state.refused.message}</p>
                        <button type="button" class="danger" disabled={state.busy} onClick={() => void redrive(letter, true)}>
                          Redrive anyway (force)
                        </button>
                      </div>
                    ) : null}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </>
  );
}
