/**
 * SBC_RELOAD_DELTA_MS (how far apart the control plane paces the reloads of one Kamailio)
 * must not be shorter than that Kamailio's dispatcher `reload_delta`, or Kamailio refuses
 * reloads with "Ongoing reload" and every membership change waits for retries. The two
 * live in different programs, often on different hosts, so instead of trusting both to be
 * set alike the control plane asks each Kamailio at start-up and refuses to start (a
 * ConfigError: exit 2) when one's window is longer.
 *
 * Kamailio 5.6 has no RPC for a module parameter (dispatcher declares no cfg group, so
 * `cfg.get` cannot read it), but `core.ppdefines_full` lists the preprocessor defines, and
 * kamailio/kamailio.cfg passes its RELOAD_DELTA define (from SBC_DS_RELOAD_DELTA or
 * `-A RELOAD_DELTA=n`) to `modparam("dispatcher", "reload_delta", RELOAD_DELTA)`.
 */

/** The one RPC this check makes; HttpKamailioRpc is one. */
export interface KamailioDefines {
  /** The RPC URL, naming this Kamailio in messages. */
  readonly name: string;
  call(method: string, params?: unknown[]): Promise<unknown>;
}

export const RELOAD_DELTA_DEFINE = 'RELOAD_DELTA';

/**
 * The RELOAD_DELTA define (whole seconds) in a `core.ppdefines_full` answer: a list of
 * `{name, type, value}` with the value as text. Undefined when it is not defined; throws on
 * an answer of another shape or a value that is not a whole number.
 */
export function reloadDeltaFromDefines(result: unknown): number | undefined {
  if (!Array.isArray(result)) throw new Error('core.ppdefines_full: answer is not a list');
  const entry = result.find((d): d is { name: string; value: unknown } => typeof d === 'object' && d !== null && (d as { name?: unknown }).name === RELOAD_DELTA_DEFINE);
  if (entry === undefined) return undefined;
  const text = typeof entry.value === 'string' ? entry.value.trim() : '';
  if (!/^[0-9]+$/.test(text)) throw new Error(`core.ppdefines_full: ${RELOAD_DELTA_DEFINE}=${JSON.stringify(entry.value)} is not a whole number of seconds`);
  return Number(text);
}

export interface ReloadDeltaCheck {
  /** Kamailios whose reload_delta is longer than SBC_RELOAD_DELTA_MS: refuse to start. */
  readonly problems: readonly string[];
  /** Kamailios that could not be asked, or do not define it: start, but say so. */
  readonly unverified: readonly { readonly kamailio: string; readonly why: string }[];
}

/**
 * Asks every Kamailio at once (each call bounded by the client's own timeout). A Kamailio
 * that is down is not a reason to refuse: the control plane exists to bring Kamailios back
 * in line, and one unreachable must not hold back the others.
 */
export async function checkReloadDelta(kamailios: readonly KamailioDefines[], reloadDeltaMs: number): Promise<ReloadDeltaCheck> {
  // Promise.all keeps the configured order, whatever order the Kamailios answer in.
  const answers = await Promise.all(
    kamailios.map(async (k) => {
      try {
        return { k, ok: true as const, seconds: reloadDeltaFromDefines(await k.call('core.ppdefines_full')) };
      } catch (err) {
        return { k, ok: false as const, why: (err as Error).message };
      }
    }),
  );
  const problems: string[] = [];
  const unverified: { kamailio: string; why: string }[] = [];
  for (const a of answers) {
    if (!a.ok) unverified.push({ kamailio: a.k.name, why: a.why });
    else if (a.seconds === undefined) unverified.push({ kamailio: a.k.name, why: `its configuration defines no ${RELOAD_DELTA_DEFINE}` });
    else if (a.seconds * 1000 > reloadDeltaMs) {
      problems.push(
        `SBC_RELOAD_DELTA_MS (${reloadDeltaMs}) is shorter than the dispatcher reload_delta of the Kamailio at ${a.k.name} (${a.seconds} s, its SBC_DS_RELOAD_DELTA): set SBC_RELOAD_DELTA_MS to at least ${a.seconds * 1000}, or lower that Kamailio's`,
      );
    }
  }
  return { problems, unverified };
}
