import { FerryError } from '../../errors/index.js';
import { maskKeyFromEnvironment, maskRulesFrom } from '../../mask/rules.js';
import { Masker } from '../../mask/transformers.js';
import type { MaskSettings } from '../../stores/index.js';
import type { OperationContext } from '../context.js';

/**
 * Masking is on whenever `mask:` rules are configured; only an explicit `--no-mask` turns it off.
 * `--mask` without rules is a mistake worth stopping for.
 */
export function maskSettingsFor(ctx: OperationContext, wanted: boolean | undefined): MaskSettings | undefined {
  const rules = maskRulesFrom(ctx.config.mask);
  if (wanted === false) {
    if (rules !== undefined) ctx.log.warn('--no-mask: restoring the data as it is, personal data included, although mask rules are configured');
    return undefined;
  }
  if (rules === undefined) {
    if (wanted === true) throw new FerryError('USAGE', '--mask: no mask rules are configured', { hint: 'Add a mask: section to the config (docs/masking.md).' });
    return undefined;
  }
  return { rules, masker: new Masker(maskKeyFromEnvironment()) };
}
