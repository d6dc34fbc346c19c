import { maskArchive } from '../../ops/mask.js';
import { formatBytes } from '../../util/format.js';
import { table } from '../render/output.js';
import type { Session } from '../session.js';

export async function maskCommand(session: Session, reference: string, output: string): Promise<number> {
  const result = await maskArchive(session.ctx, reference, output);
  const { output: out } = session;
  if (out.options.json) {
    out.json({
      input: result.input,
      output: result.output,
      size: result.size,
      sha256: result.sha256,
      objects: result.objects.map((o) => ({ kind: o.store, object: o.object, rows: o.rows, masked: o.masked })),
      dropped: result.dropped,
      verified: result.verified,
    });
    return 0;
  }
  out.data(table(['store', 'masked object', 'rows seen', 'values masked'], result.objects.map((o) => [o.store, o.object, String(o.rows), String(o.masked)])));
  if (result.dropped.length > 0) out.data(`left out (JSON exports of masked collections): ${result.dropped.join(', ')}`);
  out.data(`masked archive ${result.output}\n  ${formatBytes(result.size)}, sha256 ${result.sha256}, verified`);
  return 0;
}
