/** The multi-node invariants on three nodes in this process, linked by an in-memory bus. */
import { memoryCluster } from '../helpers/cluster.ts';
import { CLUSTER_ENV, clusterInvariants } from './cluster-invariants.ts';

clusterInvariants('three nodes on an in-memory bus', () => memoryCluster(3, CLUSTER_ENV));
