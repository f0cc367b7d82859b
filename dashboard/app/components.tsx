/** Small pieces every view uses: the diagram, notes, badges, times. */
import type { ComponentChildren, TargetedKeyboardEvent, TargetedMouseEvent } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import type { ApiError } from './api.ts';
import { localTime, relative } from './format.ts';

interface DiagramProps {
  /** The SVG the server drew; every state element has `data-state="<dot path>"`. */
  readonly svg: string;
  /** What the diagram shows, for screen readers. */
  readonly label: string;
  /** Makes every state a button: called with its path. */
  readonly onState?: ((path: string) => void) | undefined;
  /** The state path shown as chosen. */
  readonly selected?: string | undefined;
}

/** A machine's diagram. With `onState`, each state is a button (click, Enter or Space) that names its path. */
export function Diagram({ svg, label, onState, selected }: DiagramProps) {
  const box = useRef<HTMLDivElement>(null);
  // The SVG is replaced only when it changes (Preact compares the markup); decorate the states after each render.
  useEffect(() => {
    // The drawing is an image, unless its states are buttons: then it is a group of them.
    box.current?.querySelector('svg')?.setAttribute('role', onState ? 'group' : 'img');
    for (const element of box.current?.querySelectorAll<SVGElement>('[data-state]') ?? []) {
      const path = element.getAttribute('data-state') ?? '';
      if (!onState || path === '') {
        element.removeAttribute('tabindex');
        element.removeAttribute('role');
        continue;
      }
      element.setAttribute('tabindex', '0');
      element.setAttribute('role', 'button');
      element.setAttribute('aria-label', `Show instances in ${path}`);
      element.setAttribute('aria-pressed', String(path === selected));
      element.classList.toggle('chosen', path === selected);
    }
  });
  const stateOf = (target: EventTarget | null) => {
    const element = target instanceof Element ? target.closest('[data-state]') : null;
    const path = element?.getAttribute('data-state');
    return element && box.current?.contains(element) && path ? path : undefined;
  };
  const onClick = (event: TargetedMouseEvent<HTMLDivElement>) => {
    const path = stateOf(event.target);
    if (path !== undefined && onState) onState(path);
  };
  const onKeyDown = (event: TargetedKeyboardEvent<HTMLDivElement>) => {
    if (event.key !== 'Enter' && event.key !== ' ') return;
    const path = stateOf(event.target);
    if (path === undefined || !onState) return;
    event.preventDefault();
    onState(path);
  };
  return (
    <figure class={onState ? 'diagram clickable' : 'diagram'}>
      {/* biome-ignore lint/a11y/noStaticElementInteractions: the states inside are the buttons; this only delegates their events */}
      <div ref={box} class="diagram-svg" onClick={onClick} onKeyDown={onKeyDown} dangerouslySetInnerHTML={{ __html: svg }} />
      <figcaption>{label}</figcaption>
    </figure>
  );
}

/** The last failure of a view's live data, shown above the (stale) data it still has. */
export function ErrorNote({ error, stale }: { readonly error: ApiError | undefined; readonly stale?: boolean }) {
  if (!error) return null;
  return (
    <div class="note error" role="alert">
      <strong>{error.code}</strong> {error.message}
      {stale ? <span class="muted"> Showing the last data; retrying every 2 s.</span> : null}
    </div>
  );
}

export function Loading({ what }: { readonly what: string }) {
  return (
    <p class="loading" aria-live="polite">
      Loading {what}…
    </p>
  );
}

/** An outcome or status, coloured by what it means. */
export function Badge({ value }: { readonly value: string | undefined }) {
  if (value === undefined) return <span class="muted">—</span>;
  return <span class={`badge badge-${value.replace(/[^a-z-]/g, '')}`}>{value}</span>;
}

/** A time as "3 min ago", with the exact local time on hover and for screen readers. */
export function Time({ iso, now }: { readonly iso: string | undefined; readonly now: number }) {
  if (!iso) return <span class="muted">—</span>;
  return (
    <time dateTime={iso} title={localTime(iso)}>
      {relative(iso, now)}
    </time>
  );
}

export function Section({ title, children, id }: { readonly title: string; readonly children: ComponentChildren; readonly id?: string }) {
  const headingId = `${id ?? title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-heading`;
  return (
    <section aria-labelledby={headingId}>
      <h2 id={headingId}>{title}</h2>
      {children}
    </section>
  );
}
