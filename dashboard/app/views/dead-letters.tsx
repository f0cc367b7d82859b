/** `#/dead-letters`: every letter in the dead-letter queue, with its reason and a Redrive button. */
import { api, redriveRunning } from '../api.ts';
import { ErrorNote, Loading } from '../components.tsx';
import { count } from '../format.ts';
import { useNow, usePoll } from '../use-poll.ts';
import { DeadLetterTable } from './dead-letter-table.tsx';

export function DeadLettersView() {
  const { data, error, refresh } = usePoll(api.deadLetters, 'dead-letters', { holdWhile: redriveRunning });
  const now = useNow();
  return (
    <>
      <h1>Dead letters</h1>
      <p class="lead">
        Events the worker could not apply, with the reason. A redrive sends a letter's event to its instance again, after checking that the
        instance has not applied it; it leaves the queue once sent.
      </p>
      <ErrorNote error={error} stale={data !== undefined} />
      {data === undefined ? (
        error ? null : (
          <Loading what="the dead letters" />
        )
      ) : (
        <>
          <p data-testid="letter-count">
            {count(data.letters.length)} {data.letters.length === 1 ? 'letter' : 'letters'}
            {data.unread > 0
              ? `; ${count(data.unread)} more the queue could not hand out at once (SQS moved them in their instance's group)`
              : ''}
          </p>
          <DeadLetterTable letters={data.letters} now={now} showInstance onChanged={refresh} />
        </>
      )}
    </>
  );
}
