/** The multi-node invariants on three nodes in this process, on one real Redis with the real adapter. */
import { redisCluster } from '../helpers/cluster.ts';
import { CLUSTER_ENV, clusterInvariants } from './cluster-invariants.ts';

clusterInvariants('three nodes on one Redis', () => redisCluster(3, CLUSTER_ENV));
