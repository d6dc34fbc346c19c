export { evaluateHealth, DEFAULT_THRESHOLDS, HEALTH_STATUS, type HealthFacts, type HealthResult, type HealthThresholds, type HealthCheck, type HealthStatusName } from './evaluate.js';
export { renderMetrics, writeMetricsFile, type MetricsInput } from './metrics.js';
