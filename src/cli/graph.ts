import { UserError } from '../errors.js';
import { COMMON_FLAGS, type Command } from './command.js';

export const command: Command = {
  name: 'graph',
  summary: 'not built yet',
  usage: 'graph',
  examples: [],
  flags: { ...COMMON_FLAGS },
  async run() {
    throw new UserError('EUSAGE', 'graph: not built yet');
  },
};
