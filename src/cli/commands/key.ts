import { generateKey } from '../../ops/keys.js';
import type { Session } from '../session.js';

export async function keyGenerateCommand(session: Session, output: string): Promise<number> {
  const { path, recipient } = await generateKey(output);
  if (session.output.options.json) session.output.json({ identityFile: path, recipient });
  else {
    session.output.logger.info(`wrote the identity to ${path} (mode 0600): keep it safe, older backups need it`);
    session.output.data(recipient);
  }
  return 0;
}
