/**
 * The parts of RxJS the engine uses, through its public API. The build bundles this module with
 * them (esbuild, tree-shaken: package.json's build): loading the whole of rxjs, some three hundred
 * files, cost a run with anything to do about 80 ms; the bundle loads in a tenth of that.
 */
export {
  concatAll,
  concatMap,
  finalize,
  fromEvent,
  mergeMap,
  Observable,
  Subject,
  Subscription,
  takeUntil,
  timer,
} from 'rxjs';
