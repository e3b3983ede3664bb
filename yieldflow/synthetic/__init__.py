"""Synthetic farm datasets that follow the input contract, with the faults real loggers make.

Why: the pipeline needs data to run on before anyone points it at their own exports, and
the tests need data whose truth is known. `generate_dataset` writes a dataset root
(farms.csv, harvests.csv, sensors/<farm_id>/<YYYY-MM>.csv) whose weather is physically
plausible and whose yields follow a stated agronomic model of that weather, so a model
trained on it has something real to learn and a known noise floor.

The package is split by job: population (who the farms are and what they plant), weather
(readings per farm-season), truth (the yield model of that weather), faults (what loggers
get wrong) and generator (writing it all, one farm at a time).
"""

from yieldflow.contract import PLANNED_SEASONS_FILE
from yieldflow.features.agronomy import CROP_GDD_BASE_C, CROP_HEAT_STRESS_C
from yieldflow.synthetic.faults import FaultCounts
from yieldflow.synthetic.generator import GeneratedDatasetInfo, generate_dataset
from yieldflow.synthetic.population import SOIL_TYPES
from yieldflow.synthetic.truth import (
    CROP_GDD_REQUIRED,
    CROP_HEAT_SENSITIVITY,
    CROP_MEAN_YIELD_T_HA,
    CROPS,
    SeasonDrivers,
    yield_model,
)
from yieldflow.synthetic.weather import LEAD_DAYS

__all__ = [
    "CROPS",
    "CROP_GDD_BASE_C",
    "CROP_GDD_REQUIRED",
    "CROP_HEAT_SENSITIVITY",
    "CROP_HEAT_STRESS_C",
    "CROP_MEAN_YIELD_T_HA",
    "LEAD_DAYS",
    "PLANNED_SEASONS_FILE",
    "SOIL_TYPES",
    "FaultCounts",
    "GeneratedDatasetInfo",
    "SeasonDrivers",
    "generate_dataset",
    "yield_model",
]
