export { evaluateHealth, unknownHealth, DEFAULT_THRESHOLDS, HEALTH_STATUS, type HealthFacts, type HealthResult, type HealthThresholds, type HealthCheck, type HealthFigures, type HealthStatusName, type ChecksumFacts } from './evaluate.js';
export { renderMetrics, writeMetricsFile, type MetricsInput } from './metrics.js';
export { findAnomalies, DEFAULT_ANOMALY_THRESHOLDS, type Anomaly, type StoreCounts } from './anomalies.js';
export { anomalyRules, type AnomalyRules } from './anomaly-rules.js';
export { writeNotificationMetrics, mergeNotificationMetrics, type NotificationAttempt } from './notification-metrics.js';
