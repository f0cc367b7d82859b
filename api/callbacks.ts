import type { EventObject } from 'xstate';
import { signCallback } from '../runtime/core/callback-token.ts';
import { environmentVariables } from '../runtime/core/config.ts';
import { parseDuration } from '../runtime/core/duration.ts';
import { RequestError } from '../runtime/core/errors.ts';
import { parseInstanceKey } from '../runtime/core/instance-key.ts';

/**
 * Callback links (docs/DESIGN.md, "Callback links"): a URL that, when POSTed, sends one event to one instance.
 * A machine's invoked actor makes them (to e-mail "Approve" and "Reject"), and so can the client.
 */

/** Where links point and what signs them. */
export interface CallbackSettings {
  /** The HTTP API's base URL, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com` or `http://127.0.0.1:3000`. */
  readonly apiUrl: string;
  /** The signing key, or what fetches it (once). */
  readonly key: string | (() => Promise<string>);
}

export interface CallbackOptions {
  /** How long the link works: seconds, or a duration such as `7d`, `12h`, `30m`. At most 365 days. */
  readonly expiresIn: number | string;
  /** Fields the person following the link may add to the event (strings, e.g. `reason`). */
  readonly data?: readonly string[];
}

let configured: CallbackSettings | undefined;

/**
 * Sets where links point and the key that signs them, for this process. The local stack calls it; on AWS the
 * settings come from the environment the construct sets (SETTLE_API_URL, SETTLE_CALLBACK_SECRET_ARN).
 */
export function configureCallbacks(settings: CallbackSettings | undefined): void {
  configured = settings;
  keyPromise = undefined;
}

let keyPromise: Promise<string> | undefined;

/**
 * A link that sends `event` to `instanceKey` when followed (GET shows what it will do; POST does it).
 *
 * @example
 * // in an invoked actor of the approval machine
 * const approve = await callbackUrl(input.instanceKey, { type: 'APPROVE', role: 'legal', by: 'mail' }, { expiresIn: '7d' });
 * const reject = await callbackUrl(input.instanceKey, { type: 'REJECT', role: 'legal', by: 'mail' }, { expiresIn: '7d', data: ['reason'] });
 */
export async function callbackUrl(
  instanceKey: string,
  event: EventObject & Record<string, unknown>,
  options: CallbackOptions,
): Promise<string> {
  const settings = configured ?? settingsFromEnvironment();
  if (!keyPromise) {
    keyPromise = typeof settings.key === 'string' ? Promise.resolve(settings.key) : settings.key();
    // A failed read is not kept: the next link tries again.
    keyPromise.catch(() => {
      keyPromise = undefined;
    });
  }
  return makeCallbackUrl(settings.apiUrl, await keyPromise, instanceKey, event, options);
}

/** The link itself, given the API's URL and the key: `callbackUrl` for machines, the client's for programs. */
export function makeCallbackUrl(
  apiUrl: string,
  key: string,
  instanceKey: string,
  event: EventObject & Record<string, unknown>,
  options: CallbackOptions,
): string {
  parseInstanceKey(instanceKey);
  const seconds = typeof options.expiresIn === 'number' ? options.expiresIn : parseDuration(options.expiresIn, 'expiresIn') / 1000;
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 365 * 24 * 3600) {
    throw new RequestError('invalid-option', `expiresIn must be from 1 second to 365 days, got ${String(options.expiresIn)}.`);
  }
  const token = signCallback(key, {
    instance: instanceKey,
    event,
    data: options.data ?? [],
    expiresAt: Math.floor(Date.now() / 1000 + seconds),
  });
  return `${apiUrl.replace(/\/+$/, '')}/callbacks/${token}`;
}

/** The settings the construct (or the local stack) put in this function's environment. */
function settingsFromEnvironment(env: NodeJS.ProcessEnv = process.env): CallbackSettings {
  const apiUrl = env[environmentVariables.apiUrl];
  const key = env[environmentVariables.callbackKey];
  const secretArn = env[environmentVariables.callbackSecretArn];
  if (!apiUrl || (!key && !secretArn)) {
    throw new RequestError(
      'not-configured',
      `callbackUrl needs ${environmentVariables.apiUrl} and ${environmentVariables.callbackSecretArn} (set by SettleService when its API is on) ` +
        `or ${environmentVariables.callbackKey} (set by settle dev): this process has ${apiUrl ? 'no key' : 'no API URL'}.`,
    );
  }
  return { apiUrl, key: key ?? (() => secretValue(secretArn ?? '')) };
}

/**
 * Reads the signing key from Secrets Manager (once per process: it is cached by the caller). The SDK client is
 * loaded here, on the first link, not when the worker starts.
 */
export async function secretValue(secretArn: string, region?: string): Promise<string> {
  const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient(region === undefined ? {} : { region });
  const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretArn })).finally(() => client.destroy());
  if (!SecretString) throw new Error(`Secret ${secretArn} has no string value: the callback key must be a string.`);
  return SecretString;
}
