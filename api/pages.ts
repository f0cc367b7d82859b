import type { CallbackClaims } from '../runtime/core/callback-token.ts';

/**
 * The small pages a person sees when following a callback link in a browser, and the same answer as JSON for a
 * program. No script, nothing loaded from elsewhere; every value is escaped.
 */
export interface Page {
  readonly status: number;
  readonly html: string;
  readonly body: unknown;
}

/** GET on a link: what it will do, with the one button that does it; or why it no longer can. */
export function decisionPage(input: { claims: CallbackClaims; state: readonly string[]; open: boolean; action: string }): Page {
  const { claims, state, open } = input;
  const fields = Object.entries(claims.event).filter(([name]) => name !== 'type');
  const expires = new Date(claims.expiresAt * 1000).toISOString();
  const body = {
    decision: open ? 'open' : 'already-decided',
    instanceKey: claims.instance,
    event: claims.event,
    data: claims.data,
    expiresAt: expires,
    states: state,
  };
  const details = `
    <dl>
      <dt>Instance</dt><dd>${escapeHtml(claims.instance)}</dd>
      <dt>Action</dt><dd>${escapeHtml(claims.event.type)}</dd>
      ${fields.map(([name, value]) => `<dt>${escapeHtml(name)}</dt><dd>${escapeHtml(typeof value === 'string' ? value : JSON.stringify(value))}</dd>`).join('')}
      <dt>Now in</dt><dd>${escapeHtml(state.join(', ') || 'not started')}</dd>
      <dt>Link valid until</dt><dd>${escapeHtml(expires)}</dd>
    </dl>`;
  if (!open) {
    return {
      status: 200,
      body,
      html: layout(
        'Already decided',
        `<p>${escapeHtml(claims.instance)} no longer takes ${escapeHtml(claims.event.type)}. Nothing to do here.</p>${details}`,
      ),
    };
  }
  const inputs = claims.data
    .map((name) => `<label>${escapeHtml(name)} <input name="${escapeHtml(name)}" maxlength="2000"></label>`)
    .join('');
  return {
    status: 200,
    body,
    html: layout(
      `${escapeHtml(claims.event.type)} ${escapeHtml(claims.instance)}?`,
      `<p>Nothing has happened yet: this page only shows what the link does.</p>${details}
    <form method="post" action="${escapeHtml(input.action)}">${inputs}<button type="submit">${escapeHtml(claims.event.type)}</button></form>`,
    ),
  };
}

/** The answer to a POST (or a refused link): a title, one sentence, and the JSON for programs. */
export function callbackPage(input: { status: number; title: string; message: string; body?: unknown }): Page {
  return {
    status: input.status,
    body: input.body ?? { message: input.message },
    html: layout(escapeHtml(input.title), `<p>${escapeHtml(input.message)}</p>`),
  };
}

function layout(title: string, content: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>${title}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}dt{font-weight:600}dd{margin:0 0 .5rem}
button{font:inherit;padding:.5rem 1.5rem;margin-top:1rem}label{display:block;margin-top:.5rem}input{font:inherit;width:100%}</style>
</head><body><h1>${title}</h1>${content}</body></html>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
