import { UserError } from '../errors.js';
import { COMMON_FLAGS, type Command } from './command.js';

export const command: Command = {
  name: 'fsck',
  summary: 'not built yet',
  usage: 'fsck',
  examples: [],
  flags: { ...COMMON_FLAGS },
  async run() {
    throw new UserError('EUSAGE', 'fsck: not built yet');
  },
};
