/** Counts shown to a person stop here ("10000+"): enough to say, without walking a million index entries. */
export const COUNT_CAP = 10_000;
