/**
 * Sends one event to an instance: its type from those the instance's current states take, its other fields as
 * a JSON object. Shows the settled outcome, or that it is queued, or the server's refusal with its code.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type SendAnswer } from '../api.ts';

type Shown =
  | { readonly kind: 'answer'; readonly answer: SendAnswer; readonly type: string }
  | { readonly kind: 'error'; readonly text: string };

/** The fields a JSON text gives, or why it does not. */
export function parseFields(text: string): { fields: Record<string, unknown> } | { problem: string } {
  if (text.trim() === '') return { fields: {} };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problem: `The fields are not JSON: ${(error as Error).message}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { problem: 'The fields must be a JSON object: { "by": "ana" }.' };
  if ('type' in value) return { problem: 'Leave "type" out of the fields: choose the event type above.' };
  return { fields: value as Record<string, unknown> };
}

export function SendForm({
  instanceKey,
  events,
  note,
  onSent,
}: {
  readonly instanceKey: string;
  readonly events: readonly string[];
  /** Says where the event types come from. */
  readonly note: string;
  readonly onSent: () => void;
}) {
  const [type, setType] = useState(events[0] ?? '');
  const [fields, setFields] = useState('{}');
  const [busy, setBusy] = useState(false);
  const [shown, setShown] = useState<Shown | undefined>(undefined);
  // The instance moved on: offer what it takes now, keeping the choice if it still applies.
  useEffect(() => {
    if (!events.includes(type)) setType(events[0] ?? '');
  }, [events.join('\n')]);
  const parsed = parseFields(fields);
  const problem = 'problem' in parsed ? parsed.problem : undefined;

  const send = async () => {
    if (!type || 'problem' in parsed) return;
    setBusy(true);
    try {
      const answer = await api.send(instanceKey, { type, ...parsed.fields });
      setShown({ kind: 'answer', answer, type });
    } catch (error) {
      setShown({ kind: 'error', text: error instanceof ApiError ? `${error.code}: ${error.message}` : String(error) });
    } finally {
      setBusy(false);
      onSent();
    }
  };

  return (
    <form
      class="send card"
      aria-labelledby="send-heading"
      onSubmit={(event) => {
        event.preventDefault();
        void send();
      }}
    >
      <h2 id="send-heading">Send an event</h2>
      <p class="muted small">{note}</p>
      {events.length === 0 ? <p>No state it is in takes an event.</p> : null}
      <label>
        Event type
        <select name="type" value={type} disabled={events.length === 0} onChange={(event) => setType(event.currentTarget.value)}>
          {events.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Other fields (a JSON object)
        <textarea
          name="fields"
          rows={4}
          spellcheck={false}
          value={fields}
          aria-invalid={problem !== undefined}
          aria-describedby="fields-problem"
          onInput={(event) => setFields(event.currentTarget.value)}
        />
      </label>
      <p id="fields-problem" class="problem">
        {problem ?? ''}
      </p>
      <button type="submit" disabled={busy || !type || problem !== undefined}>
        {busy ? 'Sending…' : `Send ${type || 'event'}`}
      </button>
      <div class="send-result" role="status" aria-live="polite" data-testid="send-result">
        {shown === undefined ? null : shown.kind === 'error' ? (
          <p class="refused">Refused, nothing sent. {shown.text}</p>
        ) : shown.answer.kind === 'queued' ? (
          <p>
            {shown.type} is queued as {shown.answer.sequenceNumber} and not handled yet: {shown.answer.message}
          </p>
        ) : (
          <p>
            {shown.type} → <strong class={`outcome-${shown.answer.result.outcome}`}>{shown.answer.result.outcome}</strong> (event{' '}
            {shown.answer.result.sequenceNumber}): {shown.answer.result.states.join(', ')}
            {shown.answer.result.deadLetter
              ? ` — dead-lettered, ${shown.answer.result.deadLetter.code}: ${shown.answer.result.deadLetter.reason}`
              : ''}
          </p>
        )}
      </div>
    </form>
  );
}
